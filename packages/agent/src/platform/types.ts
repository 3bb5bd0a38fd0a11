/*
 * What the agent asks of the operating system, in OS-neutral terms. Everything above src/platform/
 * uses these types only; each OS implements them in a sibling folder (linux/), and index.ts picks
 * one. Plans are plain data, so the code that builds them is tested without touching the OS.
 */
import type { Stats } from 'node:fs';
import type { Readable } from 'node:stream';
import type { Inventory } from '@cordon/protocol';

/** One address rule of a selective isolation. */
export interface AddressRule {
  family: 'ipv4' | 'ipv6';
  /** An address or a CIDR range. */
  cidr: string;
  /** null: every port and protocol. */
  port: number | null;
}

/** A cgroup (v2) as the firewall names it: a path below the cgroup root and its depth. */
export interface CgroupRef {
  path: string;
  level: number;
}

/** What an isolated device may still reach; the firewall turns it into its own rules. */
/** One way to a Cordon server node: an address and its agent gateway's TCP port. */
export interface ServerEndpoint {
  address: string;
  port: number;
}

export interface IsolationPlan {
  /** Every Cordon server node the agent may connect to (resolved): isolation must not cut it off from a node it fails over to. */
  servers: ServerEndpoint[];
  /** Name servers the device uses (to re-resolve the server's name); port 53 only. */
  resolvers: string[];
  /** Only this user's sockets (the agent's) may reach the server and the resolvers; null: any. */
  agentUid: number | null;
  /** Selective isolation: destinations that stay reachable (outbound; replies come back). */
  destinations: AddressRule[];
  /** Selective isolation: cgroup v2 paths (relative to /sys/fs/cgroup) whose sockets may talk. */
  cgroups: CgroupRef[];
}

/** The device's firewall, as isolation needs it: one table of Cordon's, replaced or removed whole. */
export interface Firewall {
  /** Whether isolation can work here (the tool is present and the agent may use it), and its version. */
  check(): Promise<{ ok: true; version: string } | { ok: false; reason: string }>;
  /** Replaces Cordon's rules with `plan` in one transaction. */
  apply(plan: IsolationPlan): Promise<void>;
  /** Removes Cordon's rules, and nothing else of the host's firewall; fine when there are none. */
  remove(): Promise<void>;
  /** Whether Cordon's rules are loaded right now (false after a reboot or a flush). */
  active(): Promise<boolean>;
}

/** What indicators ask of the firewall: addresses to block, and addresses only to watch (counted, let through). */
export interface IndicatorRules {
  blocked: string[];
  watched: string[];
}

/**
 * The firewall as indicators need it: a table of Cordon's own, apart from isolation's (either is
 * applied and removed without touching the other), replaced whole.
 */
export interface IndicatorFirewall {
  /** Replaces the indicator rules in one transaction; no addresses at all removes the table. */
  apply(rules: IndicatorRules): Promise<void>;
  remove(): Promise<void>;
  /** Whether the table is loaded (false after a reboot or a flush). */
  active(): Promise<boolean>;
  /** Per address, the packets matched since the rules were last applied: refused (blocked) or new connections (watched). */
  counts(): Promise<Map<string, number>>;
}

/** What users on the device were told, per channel. */
export interface NotifyResult {
  wall: string;
  desktop: { user: string; result: string }[];
}

/** How a program ended: a missing program is code 127 and a time-out 124, as a shell says. */
export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** How a program run with {@link Processes.runStreamed} ended: its exit code, or the signal that ended it. */
export interface StreamedExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** What {@link Processes.runStreamed} needs besides the program and its arguments. */
export interface StreamedRunOptions {
  cwd: string;
  env: NodeJS.ProcessEnv;
  /** Aborting it stops the program and everything it started (SIGTERM, then SIGKILL 2 s later). */
  signal: AbortSignal;
  /** The program's stdout and stderr, each as it comes. */
  onStdout(chunk: Buffer): void;
  onStderr(chunk: Buffer): void;
  /** Told the program's pid (its process group's id) once it runs. */
  onStart?(pid: number): void;
}

/** Running programs: always an argument array, never a shell string. */
export interface Processes {
  /**
   * Runs a program to its end within `timeoutMs` and answers its output. When `signal` aborts
   * (code 130) or the time runs out (124), it gets SIGTERM, then SIGKILL 2 s later.
   */
  run(file: string, args: string[], opts?: { timeoutMs?: number; env?: NodeJS.ProcessEnv; input?: string; signal?: AbortSignal }): Promise<ExecResult>;
  /**
   * Runs a program as the leader of a process group of its own, without input, its output handed
   * over as it comes, and answers how it ended. Aborting `signal` stops the whole group. Rejects
   * (with the errno error) when the program cannot be started: missing, not executable, busy.
   */
  runStreamed(file: string, args: string[], opts: StreamedRunOptions): Promise<StreamedExit>;
  /**
   * Streams a program's stdout (for outputs too large to buffer); the program is killed when
   * `signal` aborts. A missing program yields one line saying so instead of failing the stream.
   */
  stream(file: string, args: string[], signal: AbortSignal): Readable;
}

/** Where a file stream starts and how much of it to read; `trustLinks` as for {@link SafeFiles.stat}. */
export interface OpenOptions {
  start?: number;
  length?: number;
  trustLinks?: boolean;
  /** Bytes per read of a stream (default 64 KiB; a big file sent whole reads faster in larger pieces). */
  readBytes?: number;
}

/**
 * File access for an agent that runs privileged and reads places unprivileged users control
 * (homes, temp directories). Paths must be absolute. It never follows a symbolic link a user
 * could have planted (only links root owns in a directory only root can change, such as
 * /proc/self or /etc/resolv.conf), reads regular files only (never FIFOs, sockets or devices),
 * and in a directory a user controls reads only files that user or root owns. A refused file
 * throws an error with code UNSAFE_PATH; a refused directory reads as missing (null).
 */
export interface SafeFiles {
  /** A file's bytes (at most 64 MB), or null when it does not exist. */
  readFile(path: string): Promise<Buffer | null>;
  /** A file's text, or null when it does not exist. */
  readText(path: string): Promise<string | null>;
  /** Up to `length` bytes at `offset` (sparse files such as lastlog), or null when missing. */
  readRange(path: string, offset: number, length: number): Promise<Buffer | null>;
  /** A read stream of a regular file (for large files), from `start` and at most `length` bytes. */
  openFile(path: string, opts?: OpenOptions): Readable;
  /**
   * The same bytes as openFile, read into one reused buffer: a piece is valid only until the next
   * is asked for (the caller hashes or copies it at once). A big file sent whole allocates nothing
   * per read: fresh buffers for hundreds of megabytes cost the agent long collections.
   */
  readPieces(path: string, opts?: OpenOptions): AsyncIterable<Buffer>;
  /**
   * Entries of a directory (names), or null when it does not exist or is reached through a link a
   * user could have planted; with `noFollow`, through any link at all (tree walks).
   */
  readDir(path: string, opts?: { noFollow?: boolean }): Promise<string[] | null>;
  /** lstat, or null when the path does not exist (or its directory is reached through an untrusted link). */
  lstat(path: string): Promise<Stats | null>;
  /**
   * stat following trusted links only: an untrusted link is reported as the link itself (lstat).
   * `trustLinks` follows every link, for kernel magic links such as /proc/<pid>/exe only.
   */
  stat(path: string, opts?: { trustLinks?: boolean }): Promise<Stats | null>;
  /** The path with trusted links resolved, or null when missing or reached through an untrusted link. */
  realpath(path: string): Promise<string | null>;
  /** Where a symbolic link points, or null. */
  readlink(path: string): Promise<string | null>;
  /** SHA-256 (hex) of a file's bytes, streamed. */
  sha256(path: string, opts?: { trustLinks?: boolean }): Promise<string>;
}

/** What an antivirus scan reads: a Quick scan the places Linux malware lives and starts from, a Full scan every local file system. */
export type ScanType = 'Quick' | 'Full';

/** One place a scan reads, and why it is in the scan. */
export interface ScanRoot {
  /** Absolute, with the links root controls resolved (a walk never follows a link). */
  path: string;
  why: 'process' | 'persistence' | 'temp' | 'home' | 'webroot' | 'filesystem';
  /** A directory root: its whole tree (true) or only the files directly in it (false). A file root is that file. */
  recursive: boolean;
  /**
   * Where the bytes are read when `path` no longer names them: a running program's file that was
   * deleted or replaced, a memfd, or a file of another mount namespace (a container). A kernel
   * magic link (/proc/<pid>/exe, /proc/<pid>/map_files/<range>), opened following links.
   */
  readVia?: string;
  /** Directories below this root that the walk does not enter: other mounts (each is its own root, or left out), bulky caches. */
  prune?: string[];
  /** Why this root is worth a second look, e.g. "deleted after process 1234 started". */
  note?: string;
}

/** What a scan reads, and what it leaves out and why (a network mount, a link a user planted). */
export interface ScanScope {
  roots: ScanRoot[];
  skipped: { path: string; reason: string }[];
}

/** A file as the kernel knows it: device and inode (stat's dev and ino). */
export interface FileId {
  dev: number;
  ino: number;
}

/** A running process that uses a file: runs it (`exe`) or has it mapped (a library, `map`). */
export interface FileProcess {
  pid: number;
  ppid: number;
  uid: number;
  commandLine: string;
  /** When it started, in clock ticks after boot (/proc/<pid>/stat): with the pid, names one process for good. */
  startTicks: number | null;
  via: 'exe' | 'map';
}

/** A file a running process runs or maps, and where its bytes can be read even if its path no longer names it. */
export interface RunningFile extends FileId {
  /** The path the process opened it by (for a deleted file, the path it had). */
  path: string;
  /** The file was deleted or replaced after the process started (or is a memfd). */
  deleted: boolean;
  /** A kernel magic link to the file itself (/proc/<pid>/exe, /proc/<pid>/map_files/<range>). */
  via: string;
}

/** What the platform says of the device: everything in an inventory except what the agent itself adds. */
export type DeviceDescription = Omit<Inventory, 'agentVersion' | 'capabilities' | 'deviceTags' | 'isolation'>;

/** What the agent asks of the operating system; one implementation per OS. */
export interface Platform {
  /** Describes the device: everything in an inventory except what the agent itself adds. */
  describe(): Promise<DeviceDescription>;
  firewall: Firewall;
  /** Blocks and watches the addresses of indicators (its own table). */
  indicatorFirewall: IndicatorFirewall;
  /** Runs programs (argument arrays, time budgets). */
  processes: Processes;
  /**
   * Safe file access (see {@link SafeFiles}). A fresh instance per task: it caches the
   * directories it has resolved, which must not outlive the task that saw them.
   */
  files(): SafeFiles;
  /** The name servers the device resolves with. */
  resolvers(): Promise<string[]>;
  /** The cgroup of a running service unit (its traffic may pass a selective isolation), or why not. */
  unitCgroup(unit: string): Promise<CgroupRef | { error: string }>;
  /**
   * Selective isolation by program: moves the running processes of these executables into a
   * cgroup of Cordon's (created on first use) and answers it with how many processes it holds.
   */
  adoptPrograms(programs: string[]): Promise<{ cgroup: CgroupRef; processes: number } | { error: string }>;
  /** Puts adopted processes back where they came from and removes Cordon's cgroup. */
  releasePrograms(): Promise<void>;
  /**
   * What a Quick or Full antivirus scan reads (see {@link ScanScope}); network file systems only
   * with `networkMounts`. Paths that do not exist are left out.
   */
  scanScope(type: ScanType, opts?: { networkMounts?: boolean }): Promise<ScanScope>;
  /** The running processes that run or map each file, by `dev:ino` (files no process uses are absent). */
  processesUsing(files: readonly FileId[]): Promise<Map<string, FileProcess[]>>;
  /** Every file running processes run or map, each once (by device and inode). */
  runningFiles(): Promise<RunningFile[]>;
  /**
   * Kills a process (SIGKILL), unless its pid now names a later process (`startTicks` differ):
   * 'gone' when it had already ended.
   */
  killProcess(p: { pid: number; startTicks: number | null }): Promise<'killed' | 'gone'>;
  /** CPU time this process has used, and its children that ended (microseconds): what a scan's CPU cap counts. */
  cpuMicros(): number;
  /** Tells logged-in users something (terminals, desktop notifications); never fails. */
  notifyUsers(title: string, message: string): Promise<NotifyResult>;
}
