"""Workload files (loadtests/workload.py): what a file may say, what a user draws from it, and
the one sentence a bad file gets before anything starts (exit 2, nothing written)."""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path

import pytest

from chatbench import cli
from chatbench.configuration.paths import workloads

BUILTINS = {
    "seed_sessions": 3,
    "seed_messages": 4,
    "seed_rows": 12,
    "user": 7,
    "worker": 0,
    "process": "host-1",
}

GOOD = """\
description = "every feature once"
[user]
token = "t-{user}"
[values]
n = { random_int = { from = 1, below = 4 } }
colour = { choice = ["red", "green"] }
words = { text = [5, 30] }
previous = { captured = "item_id", back = 2 }
[[requests]]
method = "POST"
path = "/items"
headers = { Authorization = "Bearer {token}" }
json = { n = "{n}", label = "{colour}-{n}", tags = ["{colour}", 3] }
capture = { item_id = "data.id" }
expect = [201, 200]
[[requests]]
name = "GET /items/{id}"
method = "GET"
path = "/items/{item_id}"
query = { before = "{previous}", size = 10 }
[[requests]]
method = "PUT"
path = "/notes/{token}"
body = "{words}"
"""


def write(tmp_path: Path, text: str, name: str = "w.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_a_user_draws_its_requests_in_order_with_its_own_state(tmp_path: Path) -> None:
    loaded = workloads.load(write(tmp_path, GOOD))
    assert loaded.name == "w" and loaded.labels == (
        "POST /items",
        "GET /items/{id}",
        "PUT /notes/{token}",
    )
    rng = random.Random(5)
    state = loaded.start(rng, BUILTINS)
    post = loaded.next_request(state, rng)
    assert (post.method, post.path, post.headers) == (
        "POST",
        "/items",
        {"Authorization": "Bearer t-7"},
    )
    assert post.expect == (201, 200) and post.body is None
    n, colour = post.json["n"], post.json["tags"][0]
    assert isinstance(n, int) and 1 <= n < 4  # a whole template keeps the value's type
    assert post.json == {"n": n, "label": f"{colour}-{n}", "tags": [colour, 3]}
    # No item captured yet: the GET that needs one is passed over, the PUT goes.
    put = loaded.next_request(state, rng)
    assert put.method == "PUT" and put.path == "/notes/t-7" and 5 <= len(put.body) <= 31
    loaded.captured(state, post, {"data": {"id": 41}})
    get = loaded.next_request(state, rng)  # the sequence goes on: POST
    assert get.method == "POST"
    loaded.captured(state, get, {"data": {"id": 42}})
    get = loaded.next_request(state, rng)
    # The newest capture, and the one before it; an unset value's parameter is left out.
    assert get.path == "/items/42?before=41&size=10" and get.label == "GET /items/{id}"
    loaded.captured(state, get, ["not", "an", "object"])  # nothing to keep: no error


def test_query_values_are_percent_encoded_and_an_unset_one_is_left_out(tmp_path: Path) -> None:
    text = """\
[values]
q = { choice = ["a b&c=d/é"] }
last = { captured = "x" }
[[requests]]
method = "GET"
path = "/search"
query = { q = "{q}", after = "{last}" }
capture = { x = "id" }
"""
    loaded = workloads.load(write(tmp_path, text))
    rng = random.Random(1)
    state = loaded.start(rng, BUILTINS)
    request = loaded.next_request(state, rng)
    assert request.path == "/search?q=a%20b%26c%3Dd%2F%C3%A9"
    loaded.captured(state, request, {"id": "7"})
    assert loaded.next_request(state, rng).path.endswith("&after=7")


def test_weighted_order_draws_requests_by_weight(tmp_path: Path) -> None:
    text = """\
order = "weighted"
[[requests]]
method = "GET"
path = "/a"
weight = 3
[[requests]]
method = "GET"
path = "/b"
"""
    loaded = workloads.load(write(tmp_path, text))
    rng = random.Random(3)
    state = loaded.start(rng, BUILTINS)
    seen = Counter(loaded.next_request(state, rng).path for _ in range(4000))
    assert 2.7 < seen["/a"] / seen["/b"] < 3.3


def test_a_seed_gives_the_same_requests(tmp_path: Path) -> None:
    loaded = workloads.load(workloads.path_of("chat"))

    def stream(seed: str) -> list[object]:
        rng = random.Random(seed)
        state = loaded.start(rng, BUILTINS)
        return [(r.path, r.json) for r in (loaded.next_request(state, rng) for _ in range(9))]

    assert stream("1/0/0") == stream("1/0/0") != stream("1/0/1")


def test_too_little_seeded_data_is_refused_when_a_user_starts() -> None:
    loaded = workloads.load(workloads.path_of("detail"))
    with pytest.raises(ValueError, match="value message_id draws from an empty range"):
        loaded.start(random.Random(1), {**BUILTINS, "seed_rows": 0})


REQUEST = '[[requests]]\nmethod = "GET"\npath = "/x"\n'
BAD = [
    # (file text, the key the sentence names, what it says)
    ('colour = "red"\n' + REQUEST, "", "unknown key 'colour'"),
    (REQUEST + "timeout = 3\n", "", "unknown key 'requests.0.timeout'"),
    (
        "[values]\nn = { gaussian = [0, 1] }\n" + REQUEST,
        "values.n",
        "unknown generator 'gaussian'; generators: text, random_int, choice, captured",
    ),
    (
        '[[requests]]\nmethod = "GET"\npath = "/x/{nope}"\n',
        "requests.0.path",
        "names 'nope', which is not set (set: process, seed_messages",
    ),
    (
        '[[requests]]\nmethod = "GET"\npath = "/x"\nquery = { a = "{who}" }\n',
        "requests.0.query.a",
        "names 'who', which is not set",
    ),
    (
        REQUEST + 'expect = "ok"\n',
        "requests.0.expect",
        "expected statuses are numbers like 201 or [200, 404], not 'ok'",
    ),
    (REQUEST + "expect = [200, true]\n", "requests.0.expect", "expected statuses are numbers"),
    (REQUEST + "expect = 42\n", "requests.0.expect", "HTTP statuses from 100 to 599"),
    (
        '[values]\nid = { captured = "item" }\n' + REQUEST,
        "values.id.captured",
        "no request captures 'item'",
    ),
    (REQUEST + "weight = 2\n", "requests.0.weight", 'a weight needs order = "weighted"'),
    (REQUEST + 'json = { a = 1 }\nbody = "b"\n', "requests.0", "`json` or `body`, not both"),
    ('[[requests]]\nmethod = "FETCH"\npath = "/x"\n', "requests.0.method", "input should be 'GET'"),
    ('[[requests]]\nmethod = "GET"\npath = "x"\n', "requests.0.path", "should match pattern"),
    (
        "[values]\nn = { random_int = { from = 1 } }\n" + REQUEST,
        "values.n.random_int",
        "random_int takes `from` and one of `to`",
    ),
    (
        '[values]\nn = { random_int = { from = 1, to = "rows" } }\n' + REQUEST,
        "values.n.random_int.to",
        "a bound is a whole number or one of seed_sessions",
    ),
    ("[values]\nt = { text = [50, 10] }\n" + REQUEST, "values.t.text", "1 <= LOW <= HIGH"),
    ('[user]\nsid = "{session}"\n' + REQUEST, "user.sid", "names 'session', which is not set"),
    ('[[requests]]\nmethod = "GET"\npath = "/x/{a"\n', "requests.0.path", "is not a template"),
    ("requests = []\n", "requests", "should have at least 1 item"),
    ("[[requests]\n", "", "is not valid TOML"),
]


@pytest.mark.parametrize(("text", "key", "says"), BAD, ids=[f"bad{i}" for i in range(len(BAD))])
def test_a_bad_workload_file_is_one_sentence_naming_file_and_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, key: str, says: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(workloads.WorkloadError) as info:
        workloads.load(path)
    message = str(info.value)
    assert message.startswith(f"Workload file {path}: ") and message.endswith(".")
    assert info.value.key == key and says in message, message
    assert "\n" not in message
    # Through the command: refused before anything starts, exit 2, nothing written.
    out = tmp_path / "out"
    assert cli.main(["run", "--workload", str(path), "--out", str(out)]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert f"Workload file {path}:" in err and "Traceback" not in err
    assert not out.exists()
