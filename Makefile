# mod_pairest: build with apxs's flags; run, stop and test from here.
# `make run` and `make test` do all of the set-up on a bare Debian 12 machine.

APXS      ?= apxs
CC        := $(shell $(APXS) -q CC 2>/dev/null || echo cc)
HTTPD_INC := $(shell $(APXS) -q INCLUDEDIR 2>/dev/null)
APR_INC   := $(shell apr-1-config --includes --cppflags 2>/dev/null) $(shell apu-1-config --includes 2>/dev/null)
APR_LIBS  := $(shell apr-1-config --link-ld --libs 2>/dev/null) $(shell apu-1-config --link-ld --libs 2>/dev/null)

SAN ?=
ifeq ($(SAN),1)
SANFLAGS  := -fsanitize=address,undefined -fno-omit-frame-pointer
endif

CFLAGS    ?= -O2 -g
CFLAGS    += -std=gnu11 -Wall -Wextra -Wno-unused-parameter -fPIC -fvisibility=hidden $(SANFLAGS)
CPPFLAGS  += $(APR_INC)
LIBS      := -ljansson -ljwt -lcurl

B         := build
CORE_SRC  := $(wildcard core/*.c)
CORE_OBJ  := $(patsubst core/%.c,$(B)/core/%.o,$(CORE_SRC))
MOD_SRC   := mod_pairest.c $(wildcard handlers/*.c)
UNIT_SRC  := $(wildcard tests/unit/test_*.c)
PYTEST    := /usr/bin/python3 -m pytest

.PHONY: all deps build run stop test unit api check-layers clean

all: build

deps:
	@scripts/deps.sh

build: $(B)/mod_pairest.so $(B)/paiconf

$(B)/core/%.o: core/%.c core/*.h
	@mkdir -p $(B)/core
	$(CC) $(CPPFLAGS) $(CFLAGS) -c $< -o $@

$(B)/libpairest.a: $(CORE_OBJ)
	ar rcs $@ $^

$(B)/mod_pairest.so: $(MOD_SRC) handlers/*.h $(B)/libpairest.a
	$(CC) $(CPPFLAGS) -I$(HTTPD_INC) -I. $(CFLAGS) -shared -o $@ $(MOD_SRC) $(B)/libpairest.a $(LIBS) $(SANFLAGS)

$(B)/paiconf: tools/paiconf.c
	@mkdir -p $(B)
	$(CC) $(CFLAGS) -o $@ $< -lyaml

$(B)/unit_tests: $(UNIT_SRC) tests/unit/*.h $(B)/libpairest.a
	$(CC) $(CPPFLAGS) -I. $(CFLAGS) -o $@ $(UNIT_SRC) $(B)/libpairest.a $(LIBS) $(APR_LIBS) \
	    $(shell pkg-config --libs check) $(SANFLAGS)

# deps first, then a fresh make: the flags above come from tools deps installs.
run: deps
	@$(MAKE) --no-print-directory build
	@scripts/run.sh

stop:
	@scripts/stop.sh

# core/ must stay httpd-free: the unit tests and tools link it without a server.
check-layers:
	@if grep -nE '#include *[<"](httpd|http_|ap_|mod_|util_)' core/*.c core/*.h; then \
	    echo "core/ includes an httpd header"; exit 1; fi
	@echo "layers: core/ is httpd-free"

unit: $(B)/unit_tests
	$(B)/unit_tests

api: build
	$(PYTEST) -v tests/api

test: deps
	@$(MAKE) --no-print-directory build check-layers unit api

clean:
	rm -rf $(B)
