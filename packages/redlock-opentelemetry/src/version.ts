// This package's name and version, as `instrumentationName` and `instrumentationVersion` (and the tracer's
// and meter's scope). A unit test checks the version against package.json, so a release cannot forget it.

/** The instrumentation scope's name: this package's name. */
export const PACKAGE_NAME = 'redlock-opentelemetry';
/** The instrumentation scope's version: this package's version. */
export const PACKAGE_VERSION = '0.1.0';
