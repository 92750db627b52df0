"""Server tests on PostgreSQL: the login, account and call tests that touch the database, re-run
here with the in-process server's default database (``running_server()``'s ``:memory:``)
replaced by a fresh PostgreSQL database.  The tests are the server suites' own functions, imported
(not copied), so they stay in step with them."""
import pytest

import server_helpers
import test_server_accounts as A
import test_server_calls as K
import test_server_login as L
from pg_helpers import server_databases_on_postgresql
from server_helpers import bounded


@pytest.fixture(autouse=True)
def _bounded():
    with bounded(90):
        yield


@pytest.fixture(autouse=True)
def _on_postgresql(monkeypatch, pg_cluster):
    made = server_databases_on_postgresql(monkeypatch, pg_cluster)
    yield made
    for name in made:
        pg_cluster.drop_database(name)
    assert made, "this test opened no database through running_server(): not on PostgreSQL"


server, client = K.server, K.client        # the fixtures of test_server_calls


def test_the_servers_here_run_on_postgresql(_on_postgresql):
    with server_helpers.running_server() as srv:
        assert srv.db.backend.dialect == "postgresql" and srv.db.path.startswith("postgresql:")
    assert len(_on_postgresql) == 1


_RERUN = {
    L: ["test_client_login_and_relogin_with_same_password",
        "test_second_login_of_an_online_account_closes_the_first", "test_refused_account_names",
        "test_no_auto_account", "test_banned_account", "test_plain_password_login_path",
        "test_simultaneous_logins_of_one_account_leave_exactly_one_in",
        "test_client_login_with_a_precomputed_hash"],
    A: ["test_kdf_runs_on_a_worker_thread", "test_created_accounts_get_the_plain_player_role",
        "test_failed_logins_are_delayed_after_five_and_success_resets",
        "test_second_login_kicks_the_first_with_a_notice"],
    K: ["test_get_characters_to_select_reads_sqlite", "test_many_concurrent_clients",
        "test_bind_call_and_release", "test_session_change_arrives_before_the_call_rsp"],
}
for _mod, _names in _RERUN.items():
    for _name in _names:
        globals()[_name] = getattr(_mod, _name)
del _mod, _names, _name
