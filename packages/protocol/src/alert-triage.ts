/** An alert's fixed vocabularies, in MDE's words, for the server and the console alike (free of Node built-ins, so the console bundles it). */
export const ALERT_SEVERITIES = ['Informational', 'Low', 'Medium', 'High'] as const;

/** What analysts set on an alert, in MDE's words: the server checks them, the console offers them. */
export const ALERT_STATUSES = ['New', 'InProgress', 'Resolved'] as const;
export type AlertStatus = (typeof ALERT_STATUSES)[number];

/** MDE's classifications, the current three and the older one clients still send. */
export const ALERT_CLASSIFICATIONS = ['TruePositive', 'InformationalExpectedActivity', 'FalsePositive', 'Unknown'] as const;
export type AlertClassification = (typeof ALERT_CLASSIFICATIONS)[number];

export const ALERT_DETERMINATIONS = [
  'MultiStagedAttack',
  'MaliciousUserActivity',
  'CompromisedAccount',
  'Malware',
  'Phishing',
  'UnwantedSoftware',
  'SecurityTesting',
  'LineOfBusinessApplication',
  'ConfirmedActivity',
  'NotMalicious',
  'InsufficientData',
  'Apt',
  'SecurityPersonnel',
  'NotAvailable',
  'Other',
] as const;
export type AlertDetermination = (typeof ALERT_DETERMINATIONS)[number];
