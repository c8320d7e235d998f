// Compiled (never run) by `npm run check`: the hand-written index.d.ts must describe the API as
// a TypeScript user calls it, through the package's own name.
import { connect, Pool, WasmpgError, DatabaseError, GuestTrap, VERSION, types } from 'wasmpg';
import type { QueryResult, ConnectOptions, CopyFromStream, CopyToStream } from 'wasmpg';

export async function example(): Promise<string> {
  const options: ConnectOptions = {
    allow: ['127.0.0.1:5432'],
    memoryLimit: 64 << 20,
    types: { int8: 'string', dates: 'string' },
    password: async ({ host, user }) => `${host}-${user}`,
  };
  const c = await connect('host=127.0.0.1 user=app', options);
  const r: QueryResult<{ n: number }> = await c.query<{ n: number }>('SELECT $1::int AS n', [1]);
  const n: number = r.rows[0].n;
  for await (const row of c.stream<{ i: number }>('SELECT 1 AS i')) {
    void row.i;
  }
  await c.queryMany('INSERT INTO t VALUES ($1)', [[1], [2]]);
  c.on('notification', (note) => void note.channel);
  const pool = new Pool('host=127.0.0.1', { max: 2 });
  const client = await pool.connect();
  client.release();
  await pool.end();
  try {
    await c.query('SELECT 1');
  } catch (e) {
    if (e instanceof DatabaseError) return e.code + (e.constraint ?? '');
    if (e instanceof GuestTrap) return e.kind;
    if (e instanceof WasmpgError) return e.kind;
  }
  const iv = new types.Interval(1, 2, 3n);
  const [oid, text] = types.dump(iv);
  await c.cancel();
  await c.end();
  return `${VERSION} ${n} ${oid} ${text ?? ''} ${iv.microseconds}`;
}

export async function copyExample(): Promise<number> {
  const { pipeline } = await import('node:stream/promises');
  const { Readable, Writable } = await import('node:stream');
  const c = await connect('host=127.0.0.1 user=app');
  const into: CopyFromStream = c.copyFrom('COPY t FROM STDIN');
  await pipeline(Readable.from(['1\n', '2\n']), into);
  const n: number | bigint | null = into.rowCount;
  const out: CopyToStream = c.copyTo('COPY t TO STDOUT');
  const chunks: Buffer[] = [];
  await pipeline(
    out,
    new Writable({
      write(chunk: Buffer, _enc, cb) {
        chunks.push(chunk);
        cb();
      },
    }),
  );
  void out.rowCount;
  await c.end();
  return Number(n) + chunks.length;
}
