//! The row-batch parser (parameters crossing into the guest), and the writer/parser round trip.
#![no_main]

use wasmpg_wire::batch::{parse_rows, BatchWriter};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    // Arbitrary text: parses or is an error, never a panic.
    let parsed = parse_rows(&text);

    // Round trip: the input split into rows of fields (by '\n' and '|', a 0x01 byte standing
    // for NULL) written with the writer parses back to exactly those fields.
    let rows: Vec<Vec<Option<&str>>> = text
        .split('\n')
        .map(|row| {
            row.split('|')
                .map(|f| if f == "\u{1}" { None } else { Some(f) })
                .collect()
        })
        .collect();
    let mut writer = BatchWriter::default();
    for row in &rows {
        for field in row {
            match field {
                Some(value) => writer.push_field(value),
                None => writer.push_null(),
            }
        }
        writer.end_row();
    }
    let batch = writer.take().expect("fields pushed as text stay text");
    assert_eq!(batch.count as usize, rows.len());
    let back = parse_rows(&batch.data).expect("the writer's output parses");
    assert_eq!(back.len(), rows.len());
    for (written, read) in rows.iter().zip(&back) {
        let read: Vec<Option<&str>> = read.iter().map(|f| f.as_deref()).collect();
        assert_eq!(written, &read);
    }
    drop(parsed);
});
