"""The intake queue between the inputs and the ingest thread: order, chunking, and a bound in items."""

from __future__ import annotations

import queue
import threading
import time

import pytest

from edge.intake import Intake


def test_items_come_out_in_order_across_chunks_and_split_at_the_batch_size() -> None:
    q: Intake[int] = Intake(max_items=100)
    q.put_many([1, 2, 3])
    q.put(4)
    q.put_many([5, 6, 7, 8])
    assert q.qsize() == 8
    assert q.get_batch(5) == [1, 2, 3, 4, 5]
    assert q.get_batch(5) == [6, 7, 8]
    assert q.qsize() == 0
    assert q.get_batch(5, timeout=0.01) == []


def test_a_full_queue_blocks_the_input_until_the_ingest_thread_takes_some() -> None:
    q: Intake[int] = Intake(max_items=4)
    q.put_many([1, 2, 3, 4])
    with pytest.raises(queue.Full):
        q.put(5, timeout=0.05)
    done = threading.Event()

    def producer() -> None:
        q.put_many([5, 6])
        done.set()

    t = threading.Thread(target=producer)
    t.start()
    time.sleep(0.05)
    assert not done.is_set()  # still waiting: the bound holds
    assert q.get_batch(2) == [1, 2]
    assert done.wait(2)
    t.join()
    assert q.get_batch(10) == [3, 4, 5, 6]


def test_a_waiting_consumer_wakes_on_a_put() -> None:
    q: Intake[str] = Intake(max_items=10)
    threading.Timer(0.05, q.put_many, args=(["a", "b"],)).start()
    assert q.get_batch(10, timeout=2) == ["a", "b"]
