# The mlcycle image: the binary built with the Swift toolchain image, run on slim Debian with only the binary, the
# libraries it loads and one project (mlcycle.yaml and its data; the house-price example unless PROJECT names
# another folder of this build context). docs/deployment.md says how to build and run it; this repository's CI does
# not build the image (no container engine there) but runs the same `swift build` and validates deploy/kubernetes.
#
#   docker build -t mlcycle .
#   docker build --build-arg PROJECT=path/to/your/project -t mlcycle-yours .

FROM swift:6.3-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends libsqlite3-dev && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Package.swift ./
COPY Sources Sources
COPY Tests Tests
# The README's build, with the Swift runtime and Foundation linked in so the run image needs no toolchain.
RUN swift build -c release --static-swift-stdlib --product mlcycle && install -D .build/release/mlcycle /out/mlcycle

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends libsqlite3-0 libstdc++6 zlib1g ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --create-home --home-dir /srv mlcycle
COPY --from=build /out/mlcycle /usr/local/bin/mlcycle
ARG PROJECT=examples/house-prices
COPY --chown=mlcycle:mlcycle ${PROJECT} /srv/project
USER mlcycle
WORKDIR /srv/project
# The store comes from the environment (MLCYCLE_STORE=postgres://…; a Secret in deploy/kubernetes).
EXPOSE 8080
ENTRYPOINT ["mlcycle"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8080", "--project", "/srv/project"]
