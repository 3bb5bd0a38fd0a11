/** Reading packages back in tests, with readers independent of the code that wrote them. */
import ExcelJS from 'exceljs';
import yauzl from 'yauzl';

/** Every entry of a zip (a path or its bytes), read with yauzl (an independent reader, not the writer's own code). */
export function readZip(source: string | Buffer): Promise<Map<string, Buffer>> {
  return new Promise((resolve, reject) => {
    const open = (cb: (err: Error | null, zip: yauzl.ZipFile) => void) => (typeof source === 'string' ? yauzl.open(source, { lazyEntries: true }, cb) : yauzl.fromBuffer(source, { lazyEntries: true }, cb));
    open((err, zip) => {
      if (err) return reject(err);
      const out = new Map<string, Buffer>();
      zip.on('entry', (entry: yauzl.Entry) => {
        zip.openReadStream(entry, (e, s) => {
          if (e) return reject(e);
          const chunks: Buffer[] = [];
          s.on('data', (c: Buffer) => chunks.push(c));
          s.on('end', () => {
            out.set(entry.fileName, Buffer.concat(chunks));
            zip.readEntry();
          });
        });
      });
      zip.on('end', () => resolve(out));
      zip.on('error', reject);
      zip.readEntry();
    });
  });
}

export async function summaryRows(xlsx: Buffer): Promise<Record<string, unknown>[]> {
  const wb = new ExcelJS.Workbook();
  await wb.xlsx.load(xlsx as unknown as ArrayBuffer);
  const ws = wb.getWorksheet('Data points')!;
  const header = (ws.getRow(1).values as unknown[]).slice(1).map(String);
  const rows: Record<string, unknown>[] = [];
  ws.eachRow((row, n) => {
    if (n === 1) return;
    const v = (row.values as unknown[]).slice(1);
    rows.push(Object.fromEntries(header.map((h, i) => [h, v[i] ?? ''])));
  });
  return rows;
}
