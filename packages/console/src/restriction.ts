/**
 * What a restriction of app execution does not stop: RESTRICTION_NOT_COVERED in @cordon/protocol,
 * whose module the console does not bundle (it carries zod schemas). restriction.test.ts checks
 * the two lists agree.
 */
export const RESTRICTION_NOT_COVERED: readonly string[] = [
  'Scripts fed to an interpreter (bash script.sh, python3 script.py) are not program starts: the interpreter is the program checked, and it is trusted.',
  'Programs started inside a new mount namespace (containers, services with PrivateTmp or ProtectSystem) are not checked: the guard watches the mounts of the agent\'s own namespace.',
  'Programs run from memory (memfd_create then execve) are not checked.',
  'Code loaded into a running program (shared libraries, JIT code) is not checked.',
  'Programs the package manager (dpkg, rpm, run as root) starts during installs and upgrades are allowed, whatever they are: an upgrade must run its maintainer scripts and the programs it just unpacked.',
];
