// libyaml (Debian: libyaml-dev), the YAML 1.1 parser the sidecar reads its config with.
#include <yaml.h>
