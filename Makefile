# mod_pairest: build with apxs's flags; run, stop and test from here.
# `make run` and `make test` do all of the set-up on a bare Debian 12 machine.

APXS      ?= apxs
CC        := $(shell $(APXS) -q CC 2>/dev/null || echo cc)
HTTPD_INC := $(shell $(APXS) -q INCLUDEDIR 2>/dev/null)
APR_INC   := $(shell apr-1-config --includes --cppflags 2>/dev/null) $(shell apu-1-config --includes 2>/dev/null)
APR_LIBS  := $(shell apr-1-config --link-ld --libs 2>/dev/null) $(shell apu-1-config --link-ld --libs 2>/dev/null)

# SAN=1: AddressSanitizer and UBSan, built apart in build-san/; `make test SAN=1`
# runs the whole API suite with that module loaded into httpd.
SAN ?=
B         := build
ifeq ($(SAN),1)
SANFLAGS  := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
B         := build-san
# The workers write their reports here (they run as the service user).
SANLOGS   := /tmp/pairest-san
export PAI_MODULE   := $(CURDIR)/$(B)/mod_pairest.so
export SAN_PRELOAD  := $(shell $(CC) -print-file-name=libasan.so 2>/dev/null)
# allow_user_segv_handler=0: ASan keeps its SIGSEGV handler over httpd's, so a
# crash in a child is a report with a stack, not just "exit signal" in the log.
export ASAN_OPTIONS := detect_leaks=0:allow_user_segv_handler=0:log_path=$(SANLOGS)/asan
export UBSAN_OPTIONS := print_stacktrace=1:log_path=$(SANLOGS)/ubsan
endif

CFLAGS    ?= -O2 -g
CFLAGS    += -std=gnu11 -Wall -Wextra -Wno-unused-parameter -fPIC -fvisibility=hidden $(SANFLAGS)
CPPFLAGS  += $(APR_INC) -I$(B)
LIBS      := -ljansson -ljwt -lcurl -lcrypto -lyaml -lsqlite3 -lslurm

CORE_SRC  := $(wildcard core/*.c)
CORE_OBJ  := $(patsubst core/%.c,$(B)/core/%.o,$(CORE_SRC))
MOD_SRC   := mod_pairest.c mod_pairest_config.c mod_pairest_auth.c mod_pairest_sync.c mod_pairest_file.c mod_pairest_stream.c $(wildcard handlers/*.c)
UNIT_SRC  := $(wildcard tests/unit/test_*.c)
PYTEST    := /usr/bin/python3 -m pytest

.PHONY: all deps build run stop test test-long test-tls unit api check-layers shellcheck clean fuzz fuzz-build \
        bench bench-smoke bench-baseline valgrind

all: build

deps:
	@scripts/deps.sh

build: $(B)/mod_pairest.so build/paiconf build/web/index.html

# The job-side shell (scripts/job/) travels inside the module as C strings.
JOB_SH    := scripts/job/batch.sh scripts/job/task.sh scripts/job/container.sh
$(B)/job_scripts.h: $(JOB_SH) scripts/embed.sh
	@mkdir -p $(B)
	scripts/embed.sh pai_job_batch_sh=scripts/job/batch.sh pai_job_task_sh=scripts/job/task.sh \
	    pai_job_container_sh=scripts/job/container.sh > $@.tmp
	mv -f $@.tmp $@

$(B)/core/%.o: core/%.c core/*.h $(B)/job_scripts.h
	@mkdir -p $(B)/core
	$(CC) $(CPPFLAGS) $(CFLAGS) -c $< -o $@

$(B)/libpairest.a: $(CORE_OBJ)
	ar rcs $@ $^

$(B)/mod_pairest.so: $(MOD_SRC) mod_pairest.h handlers/*.h $(B)/libpairest.a
	$(CC) $(CPPFLAGS) -I$(HTTPD_INC) -I. $(CFLAGS) -shared -o $@.tmp $(MOD_SRC) $(B)/libpairest.a $(LIBS) $(SANFLAGS)
	@# renamed into place: a running httpd keeps the file it mapped (ld rewrites in place)
	mv -f $@.tmp $@

# The benchmark's fixture: a job history seeded through the store layer.
$(B)/seedjobs: tools/seedjobs.c $(B)/libpairest.a
	$(CC) $(CPPFLAGS) -I. $(CFLAGS) -o $@ $< $(B)/libpairest.a $(LIBS) $(APR_LIBS) $(SANFLAGS)

# The web portal as httpd serves it: assets named by their content's hash.
build/web/index.html: web/index.html web/app.js web/app.css scripts/web.sh
	scripts/web.sh web build/web

# The yaml reader run by scripts/run.sh: one plain build whatever SAN says.
build/paiconf: tools/paiconf.c
	@mkdir -p build
	$(CC) -O2 -g -Wall -o $@ $< -lyaml

$(B)/unit_tests: $(UNIT_SRC) tests/unit/*.h $(B)/libpairest.a
	$(CC) $(CPPFLAGS) -I. $(CFLAGS) -o $@ $(UNIT_SRC) $(B)/libpairest.a $(LIBS) $(APR_LIBS) \
	    $(shell pkg-config --libs check) $(SANFLAGS)

# deps first, then a fresh make: the flags above come from tools deps installs.
run: deps
	@$(MAKE) --no-print-directory build
	@scripts/run.sh

stop:
	@scripts/stop.sh

# The include graph runs glue -> handlers/ -> core/, never back up: core/ is
# httpd-free (the unit tests and tools link it without a server) and names no
# handler or glue header; handlers/ take no httpd type and no glue header.
HTTPD_HDR := '\#include *[<"](httpd|http_|ap_|mod_|util_|unixd)'
check-layers:
	@if grep -nE $(HTTPD_HDR) core/*.c core/*.h; then echo "core/ includes an httpd header"; exit 1; fi
	@if grep -nE '\#include *"(\.\./)?(handlers/|mod_pairest)' core/*.c core/*.h; then \
	    echo "core/ includes a handler or glue header"; exit 1; fi
	@if grep -nE $(HTTPD_HDR) handlers/*.c handlers/*.h; then echo "handlers/ include an httpd header"; exit 1; fi
	@if grep -nE '\#include *"(\.\./)?mod_pairest' handlers/*.c handlers/*.h; then \
	    echo "handlers/ include a glue header"; exit 1; fi
	@echo "layers: glue -> handlers/ -> core/, core/ httpd-free"

unit: $(B)/unit_tests
	$(B)/unit_tests

api: build
ifeq ($(SAN),1)
	rm -rf $(SANLOGS) && mkdir -p $(SANLOGS) && chmod 1777 $(SANLOGS)
	test -f "$(SAN_PRELOAD)"
endif
	$(PYTEST) -v tests/api
ifeq ($(SAN),1)
	@if [ -n "$$(ls -A $(SANLOGS))" ]; then \
	    echo "sanitizer reports:"; head -n 60 $(SANLOGS)/*; exit 1; fi
	@echo "sanitizers: no report from the module under the API suite"
endif

test: deps
	@$(MAKE) --no-print-directory build check-layers shellcheck unit api

# Every shell file of the project passes shellcheck.
shellcheck:
	shellcheck scripts/*.sh scripts/job/*.sh .ci/run
	@echo "shellcheck: scripts are clean"

# libFuzzer targets over core/ (clang, with ASan and UBSan).  `make fuzz` runs
# each for FUZZ_TIME seconds from the checked-in seeds; findings land in var/fuzz/.
FUZZ_TARGETS := body jobspec jwt route yaml
FUZZ_TIME    ?= 15
FUZZ_FLAGS   := -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined

fuzz-build: $(patsubst %,build-fuzz/fuzz_%,$(FUZZ_TARGETS))

build-fuzz/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/fuzz.h $(CORE_SRC) core/*.h build/job_scripts.h
	@mkdir -p build-fuzz
	clang $(CPPFLAGS) -Ibuild -I. -std=gnu11 $(FUZZ_FLAGS) -o $@ $< $(CORE_SRC) $(LIBS) $(APR_LIBS)

fuzz: fuzz-build
	@for t in $(FUZZ_TARGETS); do \
	    mkdir -p var/fuzz/$$t var/fuzz/findings; \
	    echo "fuzz: $$t for $(FUZZ_TIME) s"; \
	    build-fuzz/fuzz_$$t -max_total_time=$(FUZZ_TIME) -print_final_stats=1 -max_len=65536 \
	        -artifact_prefix=var/fuzz/findings/$$t- var/fuzz/$$t tests/fuzz/corpus/$$t \
	        > var/fuzz/$$t.log 2>&1 \
	      || { tail -n 40 var/fuzz/$$t.log; exit 1; }; \
	    grep -E '^stat::number_of_executed_units|^Done' var/fuzz/$$t.log | tr '\n' ' '; echo; \
	done

# bench/bench.py starts its own servers; --quick is the smoke CI runs.
bench: deps
	@$(MAKE) --no-print-directory build build/seedjobs
	/usr/bin/python3 bench/bench.py

# (a) of this tree against the module of git revision REV, in one run.
bench-baseline: deps
	@$(MAKE) --no-print-directory build build/seedjobs
	/usr/bin/python3 bench/bench.py --only a --baseline $(REV)

bench-smoke: deps
	@$(MAKE) --no-print-directory build build/seedjobs
	/usr/bin/python3 bench/bench.py --quick

# The API suite (SQLite half) against one httpd process under valgrind's
# memcheck; fails on a definite leak through module code.  Tests that kill or
# restart httpd's children have no place in one process and are left out, and
# the portal's browser tests (files httpd serves, over calls the rest covers).
VALGRIND_LOGS := $(CURDIR)/var/valgrind
valgrind: build
	rm -rf $(VALGRIND_LOGS) && mkdir -p $(VALGRIND_LOGS)
	PAI_VALGRIND=$(VALGRIND_LOGS)/httpd.%p.log PAI_BCRYPT_COST=4 $(PYTEST) -q tests/api \
	    -k "sqlite3 and not faults and not guard and not test_run and not docs and not security and not sdk and not portal"
	/usr/bin/python3 tests/valgrind_leaks.py $(VALGRIND_LOGS)/httpd.*.log

# The API suite once more with every server on https (PAI_TLS=1: a
# certificate of this clone's CA, scripts/tls.sh, which the clients verify):
# its SQLite half and the tests of no database (TLS is the same whatever the
# store; the MariaDB half over TLS took CI's time past 80 minutes).
# TLS_TESTS=all runs the whole suite.
TLS_TESTS ?= not mysql
test-tls: deps
	@$(MAKE) --no-print-directory build
	PAI_TLS=1 $(PYTEST) -v tests/api $(if $(filter all,$(TLS_TESTS)),,-k "$(TLS_TESTS)")

# What CI runs after `make test`: the API suite under the sanitizers and over
# TLS, fuzzing, valgrind and the benchmark's smoke run.
test-long: deps
	@$(MAKE) --no-print-directory test SAN=1
	@$(MAKE) --no-print-directory test-tls
	@$(MAKE) --no-print-directory fuzz FUZZ_TIME=$(FUZZ_TIME)
	@$(MAKE) --no-print-directory valgrind
	@$(MAKE) --no-print-directory bench-smoke

clean:
	rm -rf build build-san build-fuzz
