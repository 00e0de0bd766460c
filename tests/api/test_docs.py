"""Docs that cannot drift: every directive of the module is in the README and
in the sample configuration."""
import os
import re

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def read(*p):
    with open(os.path.join(ROOT, *p)) as f:
        return f.read()


def test_every_directive_documented():
    names = set(re.findall(r'AP_INIT_\w+\("(Pai\w+)"', read("mod_pairest_config.c")))
    assert len(names) >= 6
    readme, conf = read("README.md"), read("conf/httpd.conf.in")
    assert not [n for n in names if "`%s`" % n not in readme], "README misses directives"
    assert not [n for n in names if n not in conf], "conf/httpd.conf.in misses directives"


def test_every_log_tag_is_unique():
    """Each log message has a tag of its own (PAInnnn), as httpd's APLOGNO."""
    import glob
    tags = []
    for path in glob.glob(os.path.join(ROOT, "mod_pairest*.c")) + \
            glob.glob(os.path.join(ROOT, "handlers", "*.c")) + \
            glob.glob(os.path.join(ROOT, "core", "*.c")):
        tags += re.findall(r'"(PAI\d{4}):', read(path))
    assert len(tags) > 20
    assert not sorted(t for t in set(tags) if tags.count(t) > 1)
