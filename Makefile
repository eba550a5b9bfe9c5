# paygw — two commands do everything: `make demo` and `make test`.
GO      ?= go
BIN     ?= bin/paygw
DEMO_DIR ?= demo-out

.PHONY: build test lint demo clean fuzz

build:
	CGO_ENABLED=0 $(GO) build -trimpath -o $(BIN) ./cmd/paygw

test: lint
	$(GO) test -count=1 -timeout 9m ./...

lint:
	$(GO) vet ./...
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

# fuzz runs every Fuzz target for FUZZTIME each (make test only replays their seed corpora);
# longer runs: scripts/fuzz.sh -t 10m.
FUZZTIME ?= 10s
fuzz:
	GO=$(GO) ./scripts/fuzz.sh -t $(FUZZTIME)

demo: build
	./scripts/demo.sh $(DEMO_DIR)

clean:
	rm -rf bin $(DEMO_DIR)
