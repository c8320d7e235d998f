//! Password-file (`.pgpass`) matching with libpq's rules, as a pure function: the host reads
//! the file and hands over its text, and whether libpq would have ignored the file.
//!
//! The rules follow libpq's `passwordFromFile` (PostgreSQL 13 to 17 behave alike; in 14 the
//! socket test grew `@` abstract sockets):
//!
//! - The host name used for matching is `localhost` when the host is empty, or when it is a
//!   Unix-socket path (starts with `/` or `@`) equal, as a plain string, to the default socket
//!   directory. Any other host, socket paths included, is matched literally; in particular a line
//!   naming the default socket directory literally does not match it (it has become `localhost`).
//! - An empty port becomes `5432`; the port is compared as a string, never as a number.
//! - An empty database or user name means no lookup at all.
//! - The file is read as lines ending in `\n`; every trailing `\r` and `\n` is stripped, nothing
//!   else (whitespace is significant). A line whose first character is `#` is a comment; an empty
//!   line is skipped.
//! - Each of the four fields `host:port:database:user` is matched in turn against its value: a
//!   field that is exactly an unescaped `*` matches anything; otherwise the line is compared
//!   character by character, `\` making the next character literal, and the field ends at an
//!   unescaped `:` once the whole value has been consumed. (So an unescaped `:` in the line can
//!   match a `:` in the value, as with an IPv6 address written `::1`.) A line that does not reach
//!   the fifth field never matches.
//! - The password is the rest of the line up to the first unescaped `:`, with `\x` turned into
//!   `x`; a final lone `\` is kept. It may be empty, and an empty password still ends the search.
//! - The first matching line wins.
//! - A NUL character ends a line's text the way a C string does: the rest of that line is
//!   dropped and the next line is joined on (a NUL in the last line just cuts it). This is what
//!   libpq does for lines that fit its first read (255 bytes).
//!
//! Separately, [`check_mode`] is libpq's rule for ignoring the file itself on Unix: not a plain
//! file, or any group or other permission bit set (whoever owns it; the root-owned `0640`
//! allowance of PostgreSQL 14+ applies to TLS key files, not to the password file). libpq prints
//! a warning then; [`Ignored::warning`] is its text.

/// What a password is looked up for: the connection's values, as libpq holds them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Target<'a> {
    /// The `host` value for this connection attempt, or its `hostaddr` when `host` is empty
    /// (libpq's rule); an empty string stands for `localhost`.
    pub host: &'a str,
    /// The port as given (conninfo, `PGPORT`), not normalised; empty stands for `5432`.
    pub port: &'a str,
    /// The database name after defaults (it defaults to the user name).
    pub dbname: &'a str,
    /// The user name after defaults.
    pub user: &'a str,
}

/// libpq's default port, applied when the port is empty.
const DEFAULT_PORT: &str = "5432";
/// What an empty host, or the default socket directory, is matched as.
const DEFAULT_HOST: &str = "localhost";

/// The password the first matching line of `text` (the password file's contents) gives for
/// `target`, with libpq's rules (see the module documentation); `None` when no line matches or
/// when the database or user name is empty.
///
/// `default_socket_dir` is the socket directory libpq was built with (`DEFAULT_PGSOCKET_DIR`,
/// e.g. `/tmp` or `/var/run/postgresql`), which the host knows and the guest does not; with
/// `None` no socket path is matched as `localhost`.
///
/// `Some("")` is a real answer: the matching line has an empty password, and later lines are not
/// consulted. libpq keeps it and then treats an empty password as none ("no password supplied").
pub fn lookup(text: &str, target: &Target<'_>, default_socket_dir: Option<&str>) -> Option<String> {
    if target.dbname.is_empty() || target.user.is_empty() {
        return None;
    }
    let host = match target.host {
        "" => DEFAULT_HOST,
        h if is_unixsock_path(h) && Some(h) == default_socket_dir => DEFAULT_HOST,
        h => h,
    };
    let port = match target.port {
        "" => DEFAULT_PORT,
        p => p,
    };
    let keys = [host, port, target.dbname, target.user];
    let mut found = None;
    for_each_line(text.as_bytes(), |line| {
        found = match_line(line, &keys);
        found.is_some()
    });
    found
}

/// Whether `host` names a Unix-domain socket: an absolute path, or `@` (an abstract socket).
fn is_unixsock_path(host: &str) -> bool {
    host.starts_with('/') || host.starts_with('@')
}

/// Calls `f` with each line libpq would try to match (comments and empty lines left out, line
/// ends stripped), in order, until `f` returns true.
fn for_each_line(text: &[u8], mut f: impl FnMut(&[u8]) -> bool) {
    let mut joined: Vec<u8> = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        let (physical, next, has_newline) = match rest.iter().position(|&b| b == b'\n') {
            Some(i) => (&rest[..=i], &rest[i + 1..], true),
            None => (rest, &rest[rest.len()..], false),
        };
        rest = next;
        let (line, more) = match physical.iter().position(|&b| b == 0) {
            // A NUL cuts the line; unless this was the last line, the next one is joined on.
            Some(nul) => {
                joined.extend_from_slice(&physical[..nul]);
                if has_newline {
                    if rest.is_empty() {
                        // libpq's read finds nothing more and stops without looking at it.
                        return;
                    }
                    continue;
                }
                (joined.as_slice(), false)
            }
            None if joined.is_empty() => (physical, true),
            None => {
                joined.extend_from_slice(physical);
                (joined.as_slice(), true)
            }
        };
        if line.first() != Some(&b'#') {
            let stripped = strip_crlf(line);
            if !stripped.is_empty() && f(stripped) {
                return;
            }
        }
        if !more {
            return;
        }
        joined.clear();
    }
}

/// `line` without any trailing `\r` and `\n` characters.
fn strip_crlf(mut line: &[u8]) -> &[u8] {
    while let [head @ .., b'\n' | b'\r'] = line {
        line = head;
    }
    line
}

/// The password of `line` when its four fields match `keys`.
fn match_line(line: &[u8], keys: &[&str; 4]) -> Option<String> {
    let mut rest = line;
    for key in keys {
        rest = match_field(rest, key.as_bytes())?;
    }
    Some(unescape_password(rest))
}

/// Matches the field at the start of `line` against `value`; on a match, the line after the
/// field's terminating `:`.
fn match_field<'a>(line: &'a [u8], value: &[u8]) -> Option<&'a [u8]> {
    if let Some(rest) = line.strip_prefix(b"*:") {
        return Some(rest);
    }
    let (mut i, mut v) = (0, 0);
    while i < line.len() {
        let escaped = line[i] == b'\\';
        if escaped {
            i += 1;
        }
        // After a final lone `\` there is no character: no match.
        let c = line.get(i).copied();
        if c == Some(b':') && !escaped && v == value.len() {
            return Some(&line[i + 1..]);
        }
        if v == value.len() || c != Some(value[v]) {
            return None;
        }
        i += 1;
        v += 1;
    }
    None
}

/// The password text after the fourth field: up to the first unescaped `:`, escapes removed.
fn unescape_password(rest: &[u8]) -> String {
    let mut out = Vec::with_capacity(rest.len());
    let mut i = 0;
    while i < rest.len() && rest[i] != b':' {
        if rest[i] == b'\\' && i + 1 < rest.len() {
            i += 1;
        }
        out.push(rest[i]);
        i += 1;
    }
    // Invariant: `rest` is a tail of valid UTF-8 cut after an ASCII byte, and only ASCII bytes
    // (`\`) are removed or cut at (`:`), so `out` is valid UTF-8; lossy conversion never replaces.
    String::from_utf8_lossy(&out).into_owned()
}

/// Why libpq ignores a password file before reading it (Unix only; on Windows it checks
/// nothing).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ignored {
    /// Not a regular file (after following symbolic links): a directory, device, FIFO, socket.
    NotPlainFile,
    /// Some group or other permission bit is set (`mode & 0o077 != 0`).
    GroupOrWorldAccess,
}

impl Ignored {
    /// The kebab-case name used in the conformance data: `not-plain-file`,
    /// `group-or-world-access`.
    pub fn name(self) -> &'static str {
        match self {
            Ignored::NotPlainFile => "not-plain-file",
            Ignored::GroupOrWorldAccess => "group-or-world-access",
        }
    }

    /// libpq's warning for this case about the file at `path`, without its trailing newline.
    pub fn warning(self, path: &str) -> String {
        match self {
            Ignored::NotPlainFile => {
                format!("WARNING: password file \"{path}\" is not a plain file")
            }
            Ignored::GroupOrWorldAccess => format!(
                "WARNING: password file \"{path}\" has group or world access; \
                 permissions should be u=rw (0600) or less"
            ),
        }
    }
}

impl std::fmt::Display for Ignored {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// File-type bits of `st_mode`.
const S_IFMT: u32 = 0o170_000;
/// A regular file.
const S_IFREG: u32 = 0o100_000;
/// All group and other permission bits (`S_IRWXG | S_IRWXO`).
const GROUP_OR_OTHER: u32 = 0o077;

/// libpq's verdict on a password file from its `st_mode` (from `stat`, which follows symbolic
/// links): `Ok(())` to read it, or why it is ignored. The file type is checked first.
///
/// libpq decides this only when it would look a password up (database and user name non-empty)
/// and the file exists; it applies it on Unix only.
pub fn check_mode(st_mode: u32) -> Result<(), Ignored> {
    if st_mode & S_IFMT != S_IFREG {
        Err(Ignored::NotPlainFile)
    } else if st_mode & GROUP_OR_OTHER != 0 {
        Err(Ignored::GroupOrWorldAccess)
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    /// The shared cases every host also runs.
    const CONFORMANCE: &str = include_str!("../../conformance/passfile.json");

    fn target<'a>(host: &'a str, port: &'a str, dbname: &'a str, user: &'a str) -> Target<'a> {
        Target {
            host,
            port,
            dbname,
            user,
        }
    }

    /// `lookup` for `db.example:5432`, database `app`, user `alice`, default socket dir `/tmp`.
    fn find(text: &str) -> Option<String> {
        lookup(
            text,
            &target("db.example", "5432", "app", "alice"),
            Some("/tmp"),
        )
    }

    fn str_field<'a>(case: &'a Value, key: &str) -> &'a str {
        case["input"][key]
            .as_str()
            .unwrap_or_else(|| panic!("{}: input.{key} is not a string", case["name"]))
    }

    #[test]
    fn conformance_lookup() {
        let doc: Value = serde_json::from_str(CONFORMANCE).expect("conformance/passfile.json");
        let cases = doc["lookup"].as_array().expect("lookup cases");
        assert!(cases.len() >= 25, "only {} lookup cases", cases.len());
        for case in cases {
            let t = target(
                str_field(case, "host"),
                str_field(case, "port"),
                str_field(case, "dbname"),
                str_field(case, "user"),
            );
            let sock = case["input"]["default_socket_dir"].as_str();
            let got = lookup(str_field(case, "text"), &t, sock);
            let want = case["expected"].as_str();
            assert!(
                want.is_some() || case["expected"].is_null(),
                "{}: expected is neither a string nor null",
                case["name"]
            );
            assert_eq!(got.as_deref(), want, "case {}", case["name"]);
        }
    }

    #[test]
    fn conformance_file_mode() {
        let doc: Value = serde_json::from_str(CONFORMANCE).expect("conformance/passfile.json");
        let cases = doc["file_mode"].as_array().expect("file_mode cases");
        assert!(!cases.is_empty());
        for case in cases {
            let mode = u32::from_str_radix(str_field(case, "mode"), 8).expect("octal mode");
            let path = str_field(case, "path");
            match (check_mode(mode), &case["expected"]) {
                (Ok(()), Value::Null) => {}
                (Err(why), want) if !want.is_null() => {
                    assert_eq!(
                        Some(why.name()),
                        want["ignored"].as_str(),
                        "{}",
                        case["name"]
                    );
                    assert_eq!(
                        Some(why.warning(path).as_str()),
                        want["warning"].as_str(),
                        "{}",
                        case["name"]
                    );
                }
                (got, want) => panic!("{}: got {got:?}, expected {want}", case["name"]),
            }
        }
    }

    #[test]
    fn conformance_names_are_unique() {
        let doc: Value = serde_json::from_str(CONFORMANCE).expect("conformance/passfile.json");
        let mut names: Vec<&str> = ["lookup", "file_mode"]
            .iter()
            .flat_map(|list| doc[*list].as_array().expect("case list"))
            .map(|case| case["name"].as_str().expect("case name"))
            .collect();
        let total = names.len();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), total);
    }

    #[test]
    fn exact_match_and_each_field_mismatch() {
        let text = "db.example:5432:app:alice:secret\n";
        assert_eq!(find(text).as_deref(), Some("secret"));
        let t = |h, p, d, u| lookup(text, &target(h, p, d, u), Some("/tmp"));
        assert_eq!(t("db.example2", "5432", "app", "alice"), None);
        assert_eq!(t("db.exampl", "5432", "app", "alice"), None);
        assert_eq!(t("db.example", "543", "app", "alice"), None);
        assert_eq!(t("db.example", "54321", "app", "alice"), None);
        assert_eq!(t("db.example", "5432", "ap", "alice"), None);
        assert_eq!(t("db.example", "5432", "app", "alicex"), None);
    }

    #[test]
    fn wildcard_only_as_a_whole_unescaped_field() {
        assert_eq!(find("*:*:*:*:w\n").as_deref(), Some("w"));
        assert_eq!(find("db.example:*:app:*:w\n").as_deref(), Some("w"));
        assert_eq!(find("\\*:*:*:*:w\n"), None);
        assert_eq!(find("*x:*:*:*:w\n"), None);
        assert_eq!(find("**:*:*:*:w\n"), None);
        // A trailing `*` with no `:` is the end of a short line, not a wildcard.
        assert_eq!(find("*:*:*:*"), None);
        let star = target("*", "5432", "app", "alice");
        assert_eq!(lookup("\\*:*:*:*:w\n", &star, None).as_deref(), Some("w"));
    }

    #[test]
    fn match_field_rules() {
        assert_eq!(match_field(b"abc:rest", b"abc"), Some(&b"rest"[..]));
        assert_eq!(match_field(b"abc:rest", b"ab"), None);
        assert_eq!(match_field(b"ab:rest", b"abc"), None);
        assert_eq!(match_field(b"abc", b"abc"), None);
        assert_eq!(match_field(b"a\\:b:rest", b"a:b"), Some(&b"rest"[..]));
        assert_eq!(match_field(b"a:b:rest", b"a:b"), Some(&b"rest"[..]));
        assert_eq!(match_field(b"a\\\\:rest", b"a\\"), Some(&b"rest"[..]));
        assert_eq!(match_field(b"\\a\\b:rest", b"ab"), Some(&b"rest"[..]));
        assert_eq!(match_field(b"ab\\", b"ab"), None);
        assert_eq!(match_field(b":rest", b""), Some(&b"rest"[..]));
        assert_eq!(match_field(b"*:rest", b"anything"), Some(&b"rest"[..]));
        assert_eq!(match_field(b"", b"x"), None);
    }

    #[test]
    fn password_unescaping() {
        assert_eq!(unescape_password(b"plain"), "plain");
        assert_eq!(unescape_password(b""), "");
        assert_eq!(unescape_password(b"a\\:b"), "a:b");
        assert_eq!(unescape_password(b"a:b"), "a");
        assert_eq!(unescape_password(b":b"), "");
        assert_eq!(unescape_password(b"a\\\\"), "a\\");
        assert_eq!(unescape_password(b"a\\"), "a\\");
        assert_eq!(unescape_password(b"\\\\\\"), "\\\\");
        assert_eq!(unescape_password("\\ü\\:x".as_bytes()), "ü:x");
    }

    #[test]
    fn line_ends_and_blank_lines() {
        assert_eq!(find("\n\n*:*:*:*:w").as_deref(), Some("w"));
        assert_eq!(find("*:*:*:*:w\r\n").as_deref(), Some("w"));
        assert_eq!(find("*:*:*:*:w\n\r\n").as_deref(), Some("w"));
        assert_eq!(find("*:*:*:*:w\r").as_deref(), Some("w"));
        assert_eq!(find("\r\n\r\n*:*:*:*:w\r\n").as_deref(), Some("w"));
        assert_eq!(find("*:*:*:*:a\rb\n").as_deref(), Some("a\rb"));
        assert_eq!(find("*:*:*:*:\t w \t\n").as_deref(), Some("\t w \t"));
        assert_eq!(find("\n"), None);
        assert_eq!(find("\r\n"), None);
        assert_eq!(find(""), None);
    }

    #[test]
    fn comments() {
        assert_eq!(find("#*:*:*:*:c\n*:*:*:*:w\n").as_deref(), Some("w"));
        assert_eq!(find("#\n#*:*:*:*:c").as_deref(), None);
        // Only a `#` in the first column starts a comment.
        assert_eq!(find("*:*:*:*:w#x\n").as_deref(), Some("w#x"));
    }

    #[test]
    fn first_match_wins_even_when_empty() {
        assert_eq!(find("*:*:*:*:\n*:*:*:*:w\n").as_deref(), Some(""));
        assert_eq!(
            find("other:*:*:*:x\n*:*:*:*:w\n*:*:*:*:y\n").as_deref(),
            Some("w")
        );
    }

    #[test]
    fn host_mapping() {
        let text = "localhost:5432:app:alice:local\n/tmp:5432:app:alice:tmp\n\
                    /run/pg:5432:app:alice:run\n@abs:5432:app:alice:abs\n";
        let get = |host, sock| lookup(text, &target(host, "5432", "app", "alice"), sock);
        assert_eq!(get("", None).as_deref(), Some("local"));
        assert_eq!(get("localhost", None).as_deref(), Some("local"));
        assert_eq!(get("/tmp", Some("/tmp")).as_deref(), Some("local"));
        assert_eq!(get("/tmp", None).as_deref(), Some("tmp"));
        assert_eq!(get("/tmp", Some("/run/pg")).as_deref(), Some("tmp"));
        assert_eq!(get("/run/pg", Some("/run/pg")).as_deref(), Some("local"));
        assert_eq!(get("/run/pg", Some("/tmp")).as_deref(), Some("run"));
        assert_eq!(get("/tmp/", Some("/tmp")), None);
        assert_eq!(get("@abs", Some("/tmp")).as_deref(), Some("abs"));
        assert_eq!(get("@abs", Some("@abs")).as_deref(), Some("local"));
        // Only a socket path is replaced: a host name equal to a (bogus) default dir is not.
        assert_eq!(get("tmp", Some("tmp")), None);
    }

    #[test]
    fn port_default_and_string_comparison() {
        let text = "*:5432:*:*:def\n*:6543:*:*:other\n";
        let get = |port| lookup(text, &target("h", port, "d", "u"), None);
        assert_eq!(get("").as_deref(), Some("def"));
        assert_eq!(get("5432").as_deref(), Some("def"));
        assert_eq!(get("6543").as_deref(), Some("other"));
        assert_eq!(get("06543"), None);
        assert_eq!(get(" 5432"), None);
    }

    #[test]
    fn empty_database_or_user_means_no_lookup() {
        let text = "*:*:*:*:w\n*:*:::e\n";
        assert_eq!(lookup(text, &target("h", "1", "", "u"), None), None);
        assert_eq!(lookup(text, &target("h", "1", "d", ""), None), None);
        assert_eq!(
            lookup(text, &target("h", "1", "d", "u"), None).as_deref(),
            Some("w")
        );
    }

    #[test]
    fn nul_cuts_the_line_and_joins_the_next() {
        // "ab" is host "a" joined with the following line "b:...".
        let ab = target("ab", "5432", "app", "alice");
        let text = "a\0ignored\nb:5432:app:alice:joined\n";
        assert_eq!(lookup(text, &ab, None).as_deref(), Some("joined"));
        // The joined line is not matched on its own any more.
        let b = target("b", "5432", "app", "alice");
        assert_eq!(lookup(text, &b, None), None);
        // A NUL in the last line, with a newline: libpq stops without looking at it.
        assert_eq!(find("*:*:*:*:pw\0x\n"), None);
        // Without a newline the cut line is used.
        assert_eq!(find("*:*:*:*:pw\0x").as_deref(), Some("pw"));
        // A comment swallows the line joined to it.
        assert_eq!(find("#\0\n*:*:*:*:w\n"), None);
    }

    #[test]
    fn non_ascii() {
        let t = target("hôte", "5432", "bäse", "ünï");
        let text = "hote:5432:bäse:ünï:no\nhôte:5432:bäse:ünï:mot de passé\n";
        assert_eq!(lookup(text, &t, None).as_deref(), Some("mot de passé"));
        assert_eq!(find("*:*:*:*:\\日本\\\\語").as_deref(), Some("日本\\語"));
    }

    #[test]
    fn file_mode_rule() {
        assert_eq!(check_mode(0o100_600), Ok(()));
        assert_eq!(check_mode(0o100_400), Ok(()));
        assert_eq!(check_mode(0o100_700), Ok(()));
        assert_eq!(check_mode(0o106_600), Ok(()));
        for bits in [0o040, 0o020, 0o010, 0o004, 0o002, 0o001] {
            assert_eq!(
                check_mode(0o100_600 | bits),
                Err(Ignored::GroupOrWorldAccess),
                "{bits:o}"
            );
        }
        for kind in [
            0o040_000, 0o020_000, 0o060_000, 0o010_000, 0o120_000, 0o140_000, 0,
        ] {
            assert_eq!(
                check_mode(kind | 0o600),
                Err(Ignored::NotPlainFile),
                "{kind:o}"
            );
            assert_eq!(
                check_mode(kind | 0o777),
                Err(Ignored::NotPlainFile),
                "{kind:o}"
            );
        }
    }

    #[test]
    fn warnings_are_libpqs() {
        assert_eq!(
            Ignored::NotPlainFile.warning("/p"),
            "WARNING: password file \"/p\" is not a plain file"
        );
        assert_eq!(
            Ignored::GroupOrWorldAccess.warning("/p"),
            "WARNING: password file \"/p\" has group or world access; \
             permissions should be u=rw (0600) or less"
        );
        assert_eq!(
            Ignored::GroupOrWorldAccess.to_string(),
            "group-or-world-access"
        );
    }
}
