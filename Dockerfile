# syntax=docker/dockerfile:1
# mr-token-sidecar image: a static-stdlib, stripped release binary on distroless cc (no shell, no
# package manager), CA certificates included, running as the numeric non-root user 65532.
# scripts/build-image.sh assembles the same runtime layout with buildah where no registry is
# reachable; docs/kubernetes.md says how the two compare.

# The base images. The runtime base, whose files ship in the image, is pinned by digest (the
# multi-arch index, so amd64 and arm64 alike); move it with the tag's new digest when distroless
# publishes security fixes (`crane digest gcr.io/distroless/cc-debian12:nonroot`, or Renovate).
# The builder is the Swift release of .swift-version, the one every test and benchmark runs with
# (scripts/check-kubernetes.sh keeps the two equal); only the binary, zlib and the SBOM leave it.
# No digest of it could be verified where this was written; pin it in your build from your mirror:
#   docker build --build-arg BUILDER=swift:6.3.1-bookworm@sha256:... .
ARG BUILDER=swift:6.3.1-bookworm
ARG RUNTIME=gcr.io/distroless/cc-debian12:nonroot@sha256:9dac0a79194e45a7da0158a9c6da57b217585af0786db3845d1f0ec1a0dd182f

# checkov:skip=CKV_DOCKER_7: the base images are the build arguments above, whose defaults carry version tags (and the runtime's a digest).
FROM ${BUILDER} AS build
# libyaml-dev: the config parser (a system library of the package), linked from its libyaml.a.
# python3: writes the SBOM. Nothing names an architecture: the paths come from dpkg, so the same
# file builds for amd64 and arm64 (docker buildx build --platform linux/amd64,linux/arm64; see
# docs/kubernetes.md).
# DL3008 (pin apt versions): the Debian release of the Swift image fixes their versions, and a pin
# would break the build at its next security update; the SBOM records the versions used.
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends libyaml-dev python3 \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Package.resolved: the dependency versions every test ran with, not the newest of the day.
COPY Package.swift Package.resolved VERSION .swift-version LICENSE ./
COPY Sources ./Sources
COPY Tests ./Tests
COPY Benchmarks ./Benchmarks
COPY Examples ./Examples
COPY scripts/lib.sh scripts/build-release.sh scripts/sbom.py ./scripts/
# The file times and the SBOM's timestamp: give the commit's time for a reproducible image
# (docker buildx build --build-arg SOURCE_DATE_EPOCH=$(git log -1 --format=%ct) .).
ARG SOURCE_DATE_EPOCH=0
# The recipe scripts/build-image.sh runs too: the same flags and checks (FoundationEssentials only,
# no emulator, the size budget); zlib, which distroless cc lacks; the SBOM.
RUN SOURCE_DATE_EPOCH="${SOURCE_DATE_EPOCH}" scripts/build-release.sh /out

FROM ${RUNTIME}
# The release version (the VERSION file; scripts/build-image.sh passes it the same way).
ARG VERSION
LABEL org.opencontainers.image.title="mr-token-sidecar" \
      org.opencontainers.image.description="Keeps Azure Mixed Reality access tokens fresh in files for the application next to it" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.documentation="docs/kubernetes.md in the source tree" \
      org.opencontainers.image.licenses="MIT"
COPY --from=build /out/ /
USER 65532:65532
# checkov:skip=CKV_DOCKER_2: Kubernetes probes (/healthz, /readyz) are the health checks; a Docker HEALTHCHECK needs a shell or HTTP client the distroless image does not have.
ENTRYPOINT ["/usr/local/bin/mr-token-sidecar"]
CMD ["run", "--config", "/etc/mr-token-sidecar/config.yaml"]
