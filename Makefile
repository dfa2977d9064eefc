# async — common tasks. `make demo` and `make test` are the two set-up
# commands of the README.
GO      ?= go
BIN     ?= bin/async
DEMO    ?= /tmp/async-demo

.PHONY: build test lint bench bench-tools demo clean

build:
	$(GO) build -o $(BIN) ./cmd/async

test: build lint
	$(GO) test -count=1 ./...

lint:
	$(GO) vet ./...
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

# 50,000 small files local→local against rsync -a, initial copy and no-change
# resync: on the disk, then in memory (/dev/shm), which takes the disk's
# noise out and measures what the tools themselves cost.
#
# Then push over SSH on loopback (a real sshd on 127.0.0.1, run as root):
# 50,000 small files and 2 GiB of large files against rsync -a -e ssh.
#
# Then push to S3 (versitygw on 127.0.0.1) against rclone v1.76 (S3 backend,
# --transfers 16). Both tools are built once into $(TOOLS), keyed by version.
TOOLS ?= $(HOME)/.cache/async-tools

bench: build bench-tools
	$(GO) run ./bench/localsync -async $(BIN) $(BENCHFLAGS)
	@if [ -d /dev/shm ]; then $(GO) run ./bench/localsync -async $(BIN) -dir /dev/shm $(BENCHFLAGS); fi
	$(GO) run ./bench/sshsync -async $(BIN) $(SSHBENCHFLAGS)
	ASYNC_VERSITYGW=$(TOOLS)/versitygw-v1.8.0/versitygw $(GO) run ./bench/s3sync -async $(BIN) -rclone $(TOOLS)/rclone-v1.76.0/rclone $(S3BENCHFLAGS)

bench-tools:
	@[ -x $(TOOLS)/versitygw-v1.8.0/versitygw ] || GOBIN=$(TOOLS)/versitygw-v1.8.0 $(GO) install github.com/versity/versitygw/cmd/versitygw@v1.8.0
	@[ -x $(TOOLS)/rclone-v1.76.0/rclone ] || GOBIN=$(TOOLS)/rclone-v1.76.0 $(GO) install github.com/rclone/rclone@v1.76.0

# Synchronize the example tree to $(DEMO)/copy, then again (a no-op).
demo: build
	rm -rf $(DEMO)
	$(BIN) -N demo -d examples/tree -r $(DEMO)/copy -b $(DEMO)/db -L $(DEMO)/log --create-dir -t
	$(BIN) -N demo -d examples/tree -r $(DEMO)/copy -b $(DEMO)/db -L $(DEMO)/log -t

clean:
	rm -rf bin
