# syntax=docker/dockerfile:1
# mr-token-sidecar image: a static-stdlib, stripped release binary on distroless cc (no shell, no
# package manager), CA certificates included, running as the numeric non-root user 65532.
# scripts/build-image.sh assembles the same runtime layout with buildah where no registry is
# reachable; docs/kubernetes.md says how the two compare.

# The base images. The runtime base, whose files ship in the image, is pinned by digest (the
# multi-arch index, so amd64 and arm64 alike); move it with the tag's new digest when distroless
# publishes security fixes (`crane digest gcr.io/distroless/cc-debian12:nonroot`, or Renovate).
# The builder is a tag: only the binary and zlib leave it, and no digest of swift:6.2-bookworm
# could be verified where this was written; pin it in your build from your mirror:
#   docker build --build-arg BUILDER=swift:6.2-bookworm@sha256:... .
ARG BUILDER=swift:6.2-bookworm
ARG RUNTIME=gcr.io/distroless/cc-debian12:nonroot@sha256:9dac0a79194e45a7da0158a9c6da57b217585af0786db3845d1f0ec1a0dd182f

# checkov:skip=CKV_DOCKER_7: the base images are the build arguments above, whose defaults carry version tags (and the runtime's a digest).
FROM ${BUILDER} AS build
# libyaml-dev: the config parser (a system library of the package), linked from its libyaml.a
# through a pkg-config file whose folder holds only the archive (as scripts/lib.sh does). The
# binary also needs zlib, copied next to it (distroless cc has glibc, libgcc and libstdc++).
# Nothing names an architecture: the paths come from dpkg, so the same file builds for amd64 and
# arm64 (docker buildx build --platform linux/amd64,linux/arm64; see docs/kubernetes.md).
# DL3008 (pin apt versions): the Debian release of the Swift image fixes libyaml's version, and a
# pin would break the build at its next security update.
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends libyaml-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Package.swift VERSION ./
COPY Sources ./Sources
COPY Tests ./Tests
COPY Benchmarks ./Benchmarks
COPY Examples ./Examples
RUN mkdir -p /opt/static-yaml/lib /opt/static-yaml/pkgconfig \
    && ln -s "$(dpkg -L libyaml-dev | grep '/libyaml\.a$')" /opt/static-yaml/lib/libyaml.a \
    && printf 'Name: LibYAML\nDescription: libyaml, linked statically\nVersion: 0.2\nLibs: -L/opt/static-yaml/lib -lyaml\nCflags:\n' \
        > /opt/static-yaml/pkgconfig/yaml-0.1.pc
ENV PKG_CONFIG_PATH=/opt/static-yaml/pkgconfig
# --no-export-dynamic: the executable exports no dynamic symbols (almost 5 MB of tables nothing reads).
RUN swift build -c release --product mr-token-sidecar --static-swift-stdlib -Xswiftc -gnone -Xlinker --no-export-dynamic \
    && install -D -m 0755 "$(swift build -c release --show-bin-path)/mr-token-sidecar" /out/usr/local/bin/mr-token-sidecar \
    && strip /out/usr/local/bin/mr-token-sidecar \
    && libz="$(dpkg -L zlib1g | grep '/libz\.so\.1$')" \
    && install -D -m 0644 "$(readlink -f "$libz")" "/out/usr/lib/$(basename "$(dirname "$libz")")/libz.so.1"

FROM ${RUNTIME}
# The release version (the VERSION file; scripts/build-image.sh passes it the same way).
ARG VERSION
LABEL org.opencontainers.image.title="mr-token-sidecar" \
      org.opencontainers.image.description="Keeps Azure Mixed Reality access tokens fresh in files for the application next to it" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.documentation="docs/kubernetes.md in the source tree" \
      org.opencontainers.image.licenses="MIT"
COPY --from=build /out/ /
COPY LICENSE /usr/share/licenses/mr-token-sidecar/LICENSE
USER 65532:65532
# checkov:skip=CKV_DOCKER_2: Kubernetes probes (/healthz, /readyz) are the health checks; a Docker HEALTHCHECK needs a shell or HTTP client the distroless image does not have.
ENTRYPOINT ["/usr/local/bin/mr-token-sidecar"]
CMD ["run", "--config", "/etc/mr-token-sidecar/config.yaml"]
