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
	$(GO) run ./bench/ratesync -async $(BIN)
	cd examples/backend-bbolt && $(GO) test -run '^$$' -bench Boundary -benchtime 2s ./...

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

# Regenerate the plugin protocol's Go code in plugins/pb (checked in: builds
# and CI need no protoc). Needs protoc (apt-get install protobuf-compiler);
# the Go generators are installed into $(TOOLS), keyed by version.
PROTOC_GEN_GO      = $(TOOLS)/protoc-gen-go-v1.36.12/protoc-gen-go
PROTOC_GEN_GO_GRPC = $(TOOLS)/protoc-gen-go-grpc-v1.5.1/protoc-gen-go-grpc

.PHONY: proto examples

proto:
	@[ -x $(PROTOC_GEN_GO) ] || GOBIN=$(dir $(PROTOC_GEN_GO)) $(GO) install google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12
	@[ -x $(PROTOC_GEN_GO_GRPC) ] || GOBIN=$(dir $(PROTOC_GEN_GO_GRPC)) $(GO) install google.golang.org/grpc/cmd/protoc-gen-go-grpc@v1.5.1
	protoc -I plugins/proto \
		--plugin=protoc-gen-go=$(PROTOC_GEN_GO) --plugin=protoc-gen-go-grpc=$(PROTOC_GEN_GO_GRPC) \
		--go_out=plugins/pb --go_opt=paths=source_relative \
		--go-grpc_out=plugins/pb --go-grpc_opt=paths=source_relative \
		plugins/proto/backend.proto

# The example third-party backend plugin (its own module) into bin/.
examples:
	cd examples/backend-bbolt && $(GO) build -o $(CURDIR)/bin/async-backend-bbolt .
