"""POST /api/v1/token, and what a token is worth afterwards."""
import base64
import json
import time

from conftest import ADMIN, assert_error


def b64url(obj):
    raw = json.dumps(obj).encode() if not isinstance(obj, bytes) else obj
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def test_seed_form_urlencoded_login(api):
    # The seed's own curl: -H "Content-Type: application/x-www-form-urlencoded" -d ... -d ...
    r = api.call("POST", "/api/v1/token",
                 data="username=%s&password=%s" % (ADMIN, api.admin_password),
                 headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["user"] == ADMIN and body["token"].count(".") == 2
    assert body["admin"] is True


def test_json_login_and_expiration(api):
    name, _ = api.make_user()
    before = int(time.time())
    r = api.call("POST", "/api/v1/token",
                 json={"username": name, "password": "secret123", "expiration": 120})
    assert r.status_code == 200
    payload = json.loads(base64.urlsafe_b64decode(r.json()["token"].split(".")[1] + "=="))
    assert before + 120 <= payload["exp"] <= int(time.time()) + 121
    assert payload["username"] == name and payload["admin"] is False
    # default: 86400 s
    tok = api.login(name, "secret123")
    payload = json.loads(base64.urlsafe_b64decode(tok.split(".")[1] + "=="))
    assert abs(payload["exp"] - payload["iat"] - 86400) <= 1
    # a string expiration (what a form sends) works too
    r = api.call("POST", "/api/v1/token", data={"username": name, "password": "secret123",
                                                "expiration": "604800"})
    assert r.status_code == 200


def test_bad_credentials(api):
    name, _ = api.make_user()
    for user, pw in [(name, "wrongpass"), ("nobody_here", "secret123"), (ADMIN, ""),
                     ("bad name", "secret123")]:
        r = api.call("POST", "/api/v1/token", json={"username": user, "password": pw})
        assert_error(r, 401, "AuthenticationFailed", "authentication failed")


def test_bad_token_requests(api):
    cases = [
        ({"password": "x"}, "username"),
        ({"username": ADMIN}, "password"),
        ({"username": 5, "password": "x"}, "username"),
        ({"username": ADMIN, "password": ["x"]}, "password"),
        ({"username": ADMIN, "password": "secret", "expiration": 59}, "expiration"),
        ({"username": ADMIN, "password": "secret", "expiration": 604801}, "expiration"),
        ({"username": ADMIN, "password": "secret", "expiration": 1.5}, "expiration"),
        ({"username": ADMIN, "password": "secret", "expiration": "soon"}, "expiration"),
        ({"username": ADMIN, "password": "secret", "role": "admin"}, "role"),
    ]
    for body, field in cases:
        r = api.call("POST", "/api/v1/token", json=body)
        assert_error(r, 400, "InvalidParametersError", field)
    for raw in ['{"username": "a", "username": "b", "password": "x"}', "{", "[1]", ""]:
        r = api.call("POST", "/api/v1/token", data=raw,
                     headers={"Content-Type": "application/json"})
        assert_error(r, 400, "InvalidParametersError")
    r = api.call("POST", "/api/v1/token", data="username=a&username=b&password=c",
                 headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert_error(r, 400, "InvalidParametersError", "twice")


def protected(api, token=None, raw_header=None):
    headers = {"Authorization": raw_header} if raw_header else {}
    return api.call("PUT", "/api/v1/user", token, headers=headers,
                    json={"username": "nobody_x", "password": "secret123", "modify": True})


def test_tokens_refused(api):
    name, good = api.make_user()
    header, payload, sig = good.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    none_token = b64url({"alg": "none", "typ": "JWT"}) + "." + b64url(
        dict(claims, username=ADMIN, admin=True)) + "."
    forged = header + "." + b64url(dict(claims, username=ADMIN, admin=True)) + "." + sig
    expired = dict(claims, exp=int(time.time()) - 10)
    for bad in [none_token, forged, header + "." + b64url(expired) + "." + sig,
                "x" * 5000, "a.b.c", good + "x"]:
        assert_error(protected(api, bad), 401, "UnauthorizedUserError")
    assert_error(protected(api), 401, "UnauthorizedUserError")
    assert_error(protected(api, raw_header="Basic YWRtaW46eA=="), 401, "UnauthorizedUserError")
    r = protected(api)
    assert r.headers.get("WWW-Authenticate") == "Bearer"
    # the good token still works
    r = api.call("PUT", "/api/v1/user", good,
                 json={"username": name, "password": "secret456", "modify": True})
    assert r.status_code == 201, r.text


def test_token_dies_with_password_change_and_user(api):
    name, tok = api.make_user()
    other_tok = api.login(name, "secret123")
    r = api.call("PUT", "/api/v1/user", tok,
                 json={"username": name, "password": "newsecret", "modify": True})
    assert r.status_code == 201, r.text
    assert_error(protected(api, other_tok), 401, "UnauthorizedUserError", "revoked")
    assert_error(protected(api, tok), 401, "UnauthorizedUserError")
    new_tok = api.login(name, "newsecret")
    r = api.call("DELETE", "/api/v1/user", api.admin_token, json={"username": name})
    assert r.status_code == 200, r.text
    assert_error(protected(api, new_tok), 401, "UnauthorizedUserError")
    # made again under the same name and password: the old token stays dead
    r = api.call("PUT", "/api/v1/user", api.admin_token,
                 json={"username": name, "password": "newsecret", "modify": False})
    assert r.status_code == 201
    assert_error(protected(api, new_tok), 401, "UnauthorizedUserError")


def test_tokens_listed_revoked_and_checked(api):
    """GET /api/v2/tokens lists one's tokens (never the token), DELETE revokes
    one by its id (at once here) or, as the SDK does, by the token itself;
    another user's id is not found; /tokens/check says whose a token is."""
    user, first = api.make_user()
    second = api.login(user, "secret123")
    r = api.call("GET", "/api/v2/tokens", second)
    assert r.status_code == 200, r.text
    toks = r.json()["tokens"]
    assert len(toks) == 2 and first not in r.text and second not in r.text
    assert {t["current"] for t in toks} == {True, False}
    for t in toks:
        assert len(t["id"]) == 32 and not t["application"], t
        assert t["expiresTime"] - t["createdTime"] == 86400 * 1000, t
    cur = [t for t in toks if t["current"]][0]
    assert cur["lastUsedTime"] is not None
    old = [t for t in toks if not t["current"]][0]
    r = api.call("GET", "/api/v2/tokens/check", first)
    assert r.json() == {"username": user, "admin": False, "application": False,
                        "id": old["id"]}, r.text
    # another user cannot see or revoke it
    _, other = api.make_user()
    r = api.call("DELETE", "/api/v2/tokens/" + old["id"], other)
    assert r.status_code == 404, r.text
    assert api.call("GET", "/api/v2/tokens/check", first).status_code == 200
    # the owner revokes it: it fails at once, the other one works
    r = api.call("DELETE", "/api/v2/tokens/" + old["id"], second)
    assert r.status_code == 200 and r.json() == {"message": "revoke successfully"}, r.text
    assert api.call("GET", "/api/v2/tokens/check", first).status_code == 401
    assert [t["id"] for t in api.call("GET", "/api/v2/tokens", second).json()["tokens"]] \
        == [cur["id"]]
    # the SDK's way: the token itself in the path
    third = api.login(user, "secret123")
    r = api.call("DELETE", "/api/v2/tokens/" + third, second)
    assert r.status_code == 200, r.text
    assert api.call("GET", "/api/v2/tokens/check", third).status_code == 401
    assert api.call("DELETE", "/api/v2/tokens/nonsense", second).status_code == 404


def test_application_token_for_job_routes_only(api):
    """An application token lives long (the admin caps it), works on the job
    routes, not elsewhere, cannot make tokens, and ends with the password."""
    user, token = api.make_user()
    r = api.call("POST", "/api/v2/tokens/application", token)
    assert r.status_code == 200, r.text
    app = r.json()
    assert app["application"] is True and len(app["id"]) == 32
    # the default and the cap: PaiApplicationTokenMaxLifetime (a year)
    assert abs(app["expiresTime"] / 1000 - time.time() - 365 * 86400) < 120, app
    r = api.call("POST", "/api/v2/tokens/application", token, json={"expiration": 3600})
    assert r.status_code == 200 and abs(r.json()["expiresTime"] / 1000 - time.time() - 3600) < 120
    assert_error(api.call("POST", "/api/v2/tokens/application", token,
                          json={"expiration": 366 * 86400}), 400, "InvalidParametersError",
                 key="code")
    assert_error(api.call("POST", "/api/v2/tokens/application", token,
                          json={"expiration": 60, "admin": True}), 400, "InvalidParametersError",
                 key="code")
    listed = api.call("GET", "/api/v2/tokens", token).json()["tokens"]
    assert [t["application"] for t in listed].count(True) == 2
    tok = app["token"]
    # job routes: yes
    assert api.call("GET", "/api/v1/jobs", tok).status_code == 200
    assert api.call("GET", "/api/v2/jobs", tok).status_code == 200
    assert api.call("GET", "/api/v2/tokens/check", tok).json()["application"] is True
    # anything else: 403, tokens included
    for method, path in (("GET", "/api/v1/virtual-clusters"), ("GET", "/api/v2/tokens"),
                         ("POST", "/api/v2/tokens/application"), ("GET", "/api/v2/users/" + user),
                         ("DELETE", "/api/v2/tokens/" + app["id"])):
        r = api.call(method, path, tok)
        assert_error(r, 403, "ForbiddenUserError", "application token",
                     key="code" if path.startswith("/api/v2") else "error")
    # a password change ends every token of the user, application tokens too
    r = api.call("PUT", "/api/v1/user", token,
                 json={"username": user, "password": "another123", "modify": True})
    assert r.status_code in (200, 201), r.text
    assert api.call("GET", "/api/v1/jobs", tok).status_code == 401
