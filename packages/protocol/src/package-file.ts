/**
 * The file name of a downloaded investigation package, the same from the server's download link,
 * the console and the CLI: `<host>-<UTC time>-investigation-package.zip`, e.g.
 * `web-01-20261130T010203Z-investigation-package.zip`. The host name is a device's own claim, so it
 * is reduced to characters safe in a file name and a header on every OS (no path, quote or space).
 */
export function packageFileName(hostName: string, completedAt: string | Date): string {
  const host =
    hostName
      .replace(/[^A-Za-z0-9._-]+/g, '_')
      .replace(/^[._-]+|[._-]+$/g, '')
      .slice(0, 100) || 'device';
  const time = new Date(completedAt).toISOString().replace(/\.\d+Z$/, 'Z').replace(/[-:]/g, '');
  return `${host}-${time}-investigation-package.zip`;
}
