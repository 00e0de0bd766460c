"""PUT/DELETE /api/v1/user and PUT /api/v1/user/:username/virtualClusters."""
from conftest import ADMIN, assert_error


def put_user(api, token, **body):
    return api.call("PUT", "/api/v1/user", token, json=body)


def test_admin_creates_and_updates(api):
    name = api.unique()
    r = put_user(api, api.admin_token, username=name, password="secret123", admin=False,
                 modify=False)
    assert r.status_code == 201 and r.json() == {"message": "update successfully"}
    assert_error(put_user(api, api.admin_token, username=name, password="secret123",
                          modify=False), 409, "ConflictUserError", name)
    r = put_user(api, api.admin_token, username=name, password="changed1", modify=True)
    assert r.status_code == 201
    api.login(name, "changed1")
    # promote: the new admin may now remove users
    r = put_user(api, api.admin_token, username=name, admin=True, modify=True)
    assert r.status_code == 201
    tok = api.login(name, "changed1")
    victim, _ = api.make_user()
    r = api.call("DELETE", "/api/v1/user", tok, json={"username": victim})
    assert r.status_code == 200 and r.json() == {"message": "remove successfully"}
    assert_error(put_user(api, api.admin_token, username=api.unique(), password="secret123",
                          modify=True), 404, "NoUserError")


def test_names_are_case_sensitive(api):
    base = api.unique("Case")
    for n in (base, base.lower()):
        r = put_user(api, api.admin_token, username=n, password="secret123", modify=False)
        assert r.status_code == 201, r.text


def test_user_may_only_change_own_password(api):
    name, tok = api.make_user()
    other, _ = api.make_user()
    assert_error(put_user(api, tok, username=other, password="hacked123", modify=True),
                 403, "ForbiddenUserError")
    assert_error(put_user(api, tok, username=api.unique(), password="secret123", modify=False),
                 403, "ForbiddenUserError")
    assert_error(put_user(api, tok, username=name, admin=True, modify=True),
                 403, "ForbiddenUserError")
    assert_error(put_user(api, tok, username=ADMIN, password="hacked123", modify=True),
                 403, "ForbiddenUserError")
    api.login(ADMIN, api.admin_password)
    r = put_user(api, tok, username=name, password="mine12345", modify=True)
    assert r.status_code == 201
    api.login(name, "mine12345")


def test_put_user_validation(api):
    t = api.admin_token
    for body, field in [
        ({"username": "bad name", "password": "secret123"}, "username"),
        ({"username": "a-b", "password": "secret123"}, "username"),
        ({"username": "x" * 65, "password": "secret123"}, "username"),
        ({"username": "good_name", "password": "12345"}, "password"),
        ({"username": "good_name"}, "password"),
        ({"password": "secret123"}, "username"),
        ({"username": "good_name", "password": "secret123", "admin": "yes"}, "admin"),
        ({"username": "good_name", "password": "secret123", "modify": 1}, "modify"),
        ({"username": "good_name", "password": 123456}, "password"),
        ({"username": "good_name", "password": "secret123", "extra": 1}, "extra"),
        ({"username": "' OR 1=1 --", "password": "secret123"}, "username"),
    ]:
        assert_error(put_user(api, t, **body), 400, "InvalidParametersError", field)
    r = api.call("PUT", "/api/v1/user", t, data="[]", headers={"Content-Type": "application/json"})
    assert_error(r, 400, "InvalidParametersError")


def test_delete_user(api):
    name, tok = api.make_user()
    victim, _ = api.make_user()
    assert_error(api.call("DELETE", "/api/v1/user", tok, json={"username": victim}),
                 401, "NotAuthorized", "not authorized")
    assert_error(api.call("DELETE", "/api/v1/user", json={"username": victim}),
                 401, "UnauthorizedUserError")
    assert_error(api.call("DELETE", "/api/v1/user", api.admin_token, json={"username": ADMIN}),
                 403, "RemoveAdminError")
    assert_error(api.call("DELETE", "/api/v1/user", api.admin_token,
                          json={"username": "nobody_at_all"}), 404, "NoUserError")
    assert_error(api.call("DELETE", "/api/v1/user", api.admin_token, json={}),
                 400, "InvalidParametersError", "username")
    r = api.call("DELETE", "/api/v1/user", api.admin_token, json={"username": victim})
    assert r.status_code == 200
    r = api.call("POST", "/api/v1/token", json={"username": victim, "password": "secret123"})
    assert_error(r, 401, "AuthenticationFailed")


def test_virtual_cluster_grants(api):
    name, tok = api.make_user()
    path = "/api/v1/user/%s/virtualClusters" % name
    r = api.call("PUT", path, api.admin_token, json={"virtualClusters": "default"})
    assert r.status_code == 201
    assert r.json() == {"message": "update user virtual clusters successfully"}
    r = api.call("PUT", path, api.admin_token, json={"virtualClusters": ""})
    assert r.status_code == 201
    assert_error(api.call("PUT", path, api.admin_token, json={"virtualClusters": "default,nope"}),
                 400, "NoVirtualClusterError", "nope")
    assert_error(api.call("PUT", path, api.admin_token, json={"virtualClusters": "a b"}),
                 400, "InvalidParametersError")
    assert_error(api.call("PUT", path, api.admin_token, json={"virtualClusters": ["default"]}),
                 400, "InvalidParametersError")
    assert_error(api.call("PUT", path, api.admin_token, json={}), 400, "InvalidParametersError")
    assert_error(api.call("PUT", path, tok, json={"virtualClusters": "default"}),
                 401, "NotAuthorized")
    assert_error(api.call("PUT", path, json={"virtualClusters": "default"}),
                 401, "UnauthorizedUserError")
    assert_error(api.call("PUT", "/api/v1/user/nobody_zz/virtualClusters", api.admin_token,
                          json={"virtualClusters": "default"}), 404, "NoUserError")
