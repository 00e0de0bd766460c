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
