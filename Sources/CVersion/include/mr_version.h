#ifndef MR_VERSION_H
#define MR_VERSION_H

/// The release version of mr-token-sidecar, from the VERSION file at the root of the package
/// (Package.swift reads it and defines MR_VERSION when it compiles version.c).
const char *mr_version(void);

#endif
