# async — common tasks. `make demo` and `make test` are the two set-up
# commands of the README.
GO      ?= go
BIN     ?= bin/async
DEMO    ?= /tmp/async-demo
PREFIX  ?= $(HOME)/.local

# async -A: the release tag or `git describe`, and the commit, stamped here
# because builds may run with -buildvcs=false (as .ci/run does).
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null)
COMMIT  ?= $(shell git rev-parse HEAD 2>/dev/null)
LDFLAGS  = -X main.version=$(VERSION) -X main.commit=$(COMMIT)

# Test and benchmark tools are built once into $(TOOLS), keyed by version.
TOOLS     ?= $(or $(ASYNC_TOOLS),$(HOME)/.cache/async-tools)
VERSITYGW  = $(TOOLS)/versitygw-v1.8.0/versitygw

.PHONY: build test tools model-long model-scale lint bench bench-startup bench-tools demo clean install man fuzz

# async, lean (-tags lean: no bucket drivers, no plugin host, whose
# packages' initialisation would slow every start); beside it async-full,
# the full build, which a run with a bucket or plugin side becomes (exec),
# and the plugins that serve gs:// and azblob://.
CLOUD = async-backend-gs async-backend-azblob

# The lean build is also static: Go's own resolver and user database
# (netgo, osusergo), no C library to load at every start.
LEANTAGS = lean,netgo,osusergo

build:
	$(GO) build -tags $(LEANTAGS) -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/async
	$(GO) build -ldflags '$(LDFLAGS)' -o $(dir $(BIN))async-full ./cmd/async
	@for c in $(CLOUD); do $(GO) build -o $(dir $(BIN))$$c ./cmd/$$c || exit 1; done

# The binary into $(PREFIX)/bin (~/.local/bin), with async-full, asyncadmin
# and the cloud plugins beside it, the man page and the bash and zsh
# completions.
install: build
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man1 \
		$(DESTDIR)$(PREFIX)/share/bash-completion/completions $(DESTDIR)$(PREFIX)/share/zsh/site-functions
	install -m 755 $(BIN) $(DESTDIR)$(PREFIX)/bin/async
	install -m 755 $(dir $(BIN))async-full $(DESTDIR)$(PREFIX)/bin/async-full
	for c in $(CLOUD); do install -m 755 $(dir $(BIN))$$c $(DESTDIR)$(PREFIX)/bin/$$c; done
	ln -sf async $(DESTDIR)$(PREFIX)/bin/asyncadmin
	install -m 644 docs/async.1 $(DESTDIR)$(PREFIX)/share/man/man1/async.1
	$(BIN) completion bash > $(DESTDIR)$(PREFIX)/share/bash-completion/completions/async
	$(BIN) completion zsh > $(DESTDIR)$(PREFIX)/share/zsh/site-functions/_async
	@echo "installed $(DESTDIR)$(PREFIX)/bin/async ($$($(BIN) -A))"

# Regenerate docs/async.1 from the option table (a test checks it is current).
man:
	$(GO) test ./cmd/async -run '^TestManPage$$' -count=1 -args -update-man

# The SSH tests need root (they create users and run sshd): without it they
# skip, each with one line (go test -v shows them); under CI=true they fail.
# The tests use the binaries built here instead of building their own.
test: build examples lint tools
	@[ "$$(id -u)" = 0 ] || echo "make test: not root, so the SSH tests skip (they create users and run sshd)"
	ASYNC_VERSITYGW=$(VERSITYGW) ASYNC_TEST_BIN=$(abspath $(BIN)) ASYNC_TEST_PLUGIN=$(CURDIR)/bin/async-backend-bbolt \
		$(GO) test -count=1 -timeout 30m ./...

# The tools the tests need: versitygw, the S3 tests' server.
tools: $(VERSITYGW)

$(VERSITYGW):
	GOBIN=$(dir $@) $(GO) install github.com/versity/versitygw/cmd/versitygw@v1.8.0

# The model test's long run: make test runs 150 random sequences, this
# MODEL_SEQUENCES (in /dev/shm; MODEL_DIR=/some/dir puts them on a disk).
MODEL_SEQUENCES ?= 3000
MODEL_STEPS     ?= 12
model-long:
	$(GO) test -count=1 -timeout 0 ./internal/modeltest -run TestModelBidi -v \
		-model.sequences=$(MODEL_SEQUENCES) -model.steps=$(MODEL_STEPS) $(if $(MODEL_DIR),-model.dir=$(MODEL_DIR))

# The model test over a large tree (not in make test: minutes): random
# changes to a bulk tree of MODEL_SCALE files (and half as many on the
# other side) besides the model's colliding name space.
MODEL_SCALE           ?= 100000
MODEL_SCALE_SEQUENCES ?= 2
MODEL_SCALE_STEPS     ?= 4
model-scale:
	$(GO) test -count=1 -timeout 0 ./internal/modeltest -run TestModelScale -v \
		-model.scale=$(MODEL_SCALE) -model.scale.sequences=$(MODEL_SCALE_SEQUENCES) \
		-model.scale.steps=$(MODEL_SCALE_STEPS) $(if $(MODEL_DIR),-model.dir=$(MODEL_DIR))

# Fuzz every decoder of bytes from another process or from disk, each
# target for FUZZTIME: the agent's frame decoder, its path resolution and
# its request handlers (against a temporary docroot), the plugin protocol's
# messages, the snapshot's stored records and the JSON plan. `make test`
# runs their seeds and saved crashers. Go fuzzes one target per run, so
# FUZZ_TARGETS lists package:target pairs.
FUZZTIME ?= 10s
FUZZ_TARGETS = \
	./backends/ssh/agent:FuzzFrameDecoder \
	./backends/ssh/agent:FuzzResolve \
	./backends/ssh/agent:FuzzAgentRequests \
	./plugins:FuzzMessages \
	./snapshot:FuzzRecord \
	./core:FuzzPlanJSON

fuzz:
	@for t in $(FUZZ_TARGETS); do \
		p=$${t%%:*}; f=$${t#*:}; \
		echo "fuzz $$p $$f ($(FUZZTIME))"; \
		GO=$(GO) scripts/fuzz $$p $$f $(FUZZTIME) || exit 1; \
	done

lint:
	$(GO) vet ./...
	$(GO) vet -tags $(LEANTAGS) ./cmd/async ./backends/ssh/...
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

# 50,000 small files local→local against rsync -a, initial copy and no-change
# resync: on the disk, then in memory (/dev/shm), which takes the disk's
# noise out and measures what the tools themselves cost.
#
# Then resyncs driven by the change journal (async watchd running on the
# source): no change and 1 % of the files rewritten, against rsync -a.
#
# Then push over SSH on loopback (a real sshd on 127.0.0.1, run as root):
# 50,000 small files and 2 GiB of large files against rsync -a -e ssh.
#
# Then push to S3 (versitygw on 127.0.0.1) against rclone v1.76 (S3 backend,
# --transfers 16). Both tools are built once into $(TOOLS), keyed by version.
#
# Then over an emulated WAN (bench/wansync: two network namespaces joined
# by bench/wanem, sshd in one, CUBIC as the system's congestion control):
# async, with its data path, against rsync -a -e ssh for RTT 10/50/150 ms
# × loss 0/0.5/2 % at 100 Mbit/s: a 256 MiB file pushed and pulled, 2,000
# small files pushed. rsync is stopped after 2 minutes a run (-cap) and
# reported as a lower bound, with the time the part it moved implies, so
# the grid takes about an hour; WANBENCHFLAGS='-rtt 50ms -loss 0.5 -size
# 32' runs one quick cell, '-ops share -loss 0' the fair-share measure.
#
# Last, the scale benchmark: 100,000 and 1,000,000 small files local→local
# against rsync -a (initial copy, no change, 1 % modified: wall time, CPU
# and peak RSS), and async's start-up (SCALEFLAGS='-files 100000' for less).
bench: build bench-tools
	$(GO) run ./bench/localsync -async $(BIN) $(BENCHFLAGS)
	@if [ -d /dev/shm ]; then $(GO) run ./bench/localsync -async $(BIN) -dir /dev/shm $(BENCHFLAGS); fi
	$(GO) run ./bench/watchdsync -async $(BIN) $(WATCHDBENCHFLAGS)
	$(GO) run ./bench/sshsync -async $(BIN) $(SSHBENCHFLAGS)
	ASYNC_VERSITYGW=$(VERSITYGW) $(GO) run ./bench/s3sync -async $(BIN) -rclone $(TOOLS)/rclone-v1.76.0/rclone $(S3BENCHFLAGS)
	$(GO) run ./bench/ratesync -async $(BIN)
	$(GO) build -o bin/wanem ./bench/wanem
	$(GO) run ./bench/wansync -async $(BIN) -wanem bin/wanem $(WANBENCHFLAGS)
	$(GO) run ./bench/scalesync -async $(BIN) $(SCALEFLAGS)
	cd examples/backend-bbolt && $(GO) test -run '^$$' -bench Boundary -benchtime 2s ./...

# async's start-up alone: the median wall time of `async -A` and of a
# no-op sync of a one-file tree (against rsync -a), STARTUP_RUNS runs each.
STARTUP_RUNS ?= 41
bench-startup: build
	$(GO) run ./bench/scalesync -async $(BIN) -startup-only -startup-runs $(STARTUP_RUNS)

bench-tools: tools
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
