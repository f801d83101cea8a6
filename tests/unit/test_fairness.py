"""The fair order of the queue: places in line that take turns between clients."""

from hypothesis import given
from hypothesis import strategies as st

from dxlvtservice.core.fairness import RoundRobin


def in_line(places):
    """Indexes of ``places`` in the order the queue serves them."""
    return sorted(range(len(places)), key=lambda i: places[i])


def test_one_clients_flood_takes_turns_with_a_late_client():
    turns = RoundRobin()
    flood = [turns.place("A") for _ in range(30)]
    late = turns.place("B")
    order = in_line([*flood, late])
    assert order.index(30) == 1  # B's lookup comes second, not 31st


def test_clients_alternate_whatever_the_arrival_order():
    turns = RoundRobin()
    places = [turns.place(client) for client in "AAAABBBBCC"]
    served = "".join("AAAABBBBCC"[i] for i in in_line(places))
    assert served == "ABCABCABAB"


def test_a_client_arriving_later_joins_the_round_being_served():
    turns = RoundRobin()
    flood = [turns.place("A") for _ in range(10)]
    for place in flood[:5]:
        turns.served(place)
    late = turns.place("B")
    waiting = flood[5:]
    assert in_line([*waiting, late]).index(5) == 1  # behind A's lookup of this round only


def test_an_idle_client_saves_up_no_turns():
    """B was idle while A was served 20 times: now they alternate, B gets no burst."""
    turns = RoundRobin()
    for _ in range(20):
        turns.served(turns.place("A"))
    places = [turns.place(client) for client in "BBBBBAAAAA"]
    served = "".join("BBBBBAAAAA"[i] for i in in_line(places))
    assert served == "BABABABABA"


def test_a_shared_lookup_takes_the_best_place_of_its_clients():
    turns = RoundRobin()
    flood = [turns.place("A") for _ in range(10)]
    other = turns.place("B")
    shared = turns.join("C", flood[-1])
    assert shared is not None
    assert in_line([*flood[:-1], other, shared]) == [0, 9, 10, 1, 2, 3, 4, 5, 6, 7, 8]


def test_joining_a_lookup_that_comes_first_anyway_charges_nothing():
    turns = RoundRobin()
    early = turns.place("A")
    assert turns.join("B", early) is None
    own = turns.place("B")
    assert own[0] == early[0]  # B's own lookup still gets the first round


def test_refused_lookups_hold_nothing_back():
    turns = RoundRobin()
    flood = [(f"A{i}", turns.place("A")) for i in range(30)]
    kept = [("A", place) for _, place in flood[:2]]
    turns.recount(kept)  # the other 28 were refused
    later = turns.place("A")
    assert later[0] == kept[-1][1][0] + 1


@given(st.lists(st.sampled_from("ABCD"), min_size=1, max_size=60))
def test_a_clients_kth_lookup_waits_for_no_other_clients_k_plus_first(clients):
    """Round robin: when a client's k-th lookup is served, no other client has had more than k."""
    turns = RoundRobin()
    places = [turns.place(client) for client in clients]
    served: dict[str, int] = {}
    for client in (clients[i] for i in in_line(places)):
        served[client] = served.get(client, 0) + 1
        assert all(count <= served[client] for other, count in served.items() if other != client)
