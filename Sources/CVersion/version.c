#include "mr_version.h"

#ifndef MR_VERSION
#error "MR_VERSION is defined by Package.swift from the VERSION file"
#endif

const char *mr_version(void) { return MR_VERSION; }
