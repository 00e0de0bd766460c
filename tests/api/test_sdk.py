"""OpenPAI's JavaScript SDK (@microsoft/openpai-js-sdk, the version
tests/sdk/package-lock.json pins; scripts/sdk.sh installs it from the npm
registry) drives /api/v2 unchanged: tests/sdk/sdk_test.js logs in, reads the
cluster, its users and VCs, submits YAML jobs, lists, reads and stops them."""
import os
import subprocess

from conftest import ROOT, TLS, TLS_CA, sh


def test_openpai_js_sdk(api):
    sh("scripts/sdk.sh")
    user, _ = api.make_user(password="sdk-password")
    r = api.call("PUT", "/api/v1/user/%s/virtualClusters" % user, api.admin_token,
                 json={"virtualClusters": "vc1"})
    assert r.status_code == 201, r.text
    env = dict(os.environ, PAI_URL=api.base, PAI_USER=user, PAI_PASSWORD="sdk-password",
               PAI_ADMIN="admin", PAI_ADMIN_PASSWORD=api.admin_password)
    if TLS:
        env["NODE_EXTRA_CA_CERTS"] = TLS_CA
    out = subprocess.run(["node", os.path.join(ROOT, "tests", "sdk", "sdk_test.js")],
                         cwd=os.path.join(ROOT, "tests", "sdk"), env=env, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0 and out.stdout.rstrip().endswith("sdk: ok"), \
        out.stdout + out.stderr
