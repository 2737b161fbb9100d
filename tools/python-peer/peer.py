#!/usr/bin/python3
"""A Python peer speaking the micro_framework wire format through kombu, for interop tests.

It behaves as a micro_framework service and client do on RabbitMQ (their amqp, rpc and events
modules), with kombu only: Debian's python3-kombu is installable here, micro_framework itself is not.

  peer.py serve --service S [--listen SOURCE.EVENT ...]
      RPC targets add, greet, divide, reserve and slow on queues rpc-S-<target> (ufw-rpc, key S.<target>),
      the introspection queue rpc-S-broadcast (key S._broadcast.*), and one event listener per
      --listen (exchange SOURCE.events, topic, durable, auto-delete; queue SOURCE.EVENT__S.record).
      Prints {"ready": true} once consuming, then one JSON line per event received.
  peer.py call --service S --target T [--args JSON] [--kwargs JSON] [--timeout SECONDS]
      Calls T as micro_framework's RPC client does; prints {"data": ...} or {"error": {...}}.
  peer.py dispatch --source S --event E --payload JSON [--header K=V ...]
      Publishes event E as micro_framework's Producer does (it does not declare the exchange).
  peer.py declare-events --source S
      Declares S.events as micro_framework and Nameko do, then exits.

Every line on stdout is one JSON object. Exits 0 unless the broker could not be reached.
"""

import argparse
import builtins
import json
import os
import signal
import socket
import sys
import uuid

from amqp.exceptions import ChannelError
from kombu import Connection, Consumer, Exchange, Producer, Queue

RPC_EXCHANGE = Exchange("ufw-rpc", type="topic", durable=True)
INTERNAL_COMMANDS = ("__list_targets__", "__get_target__")


def events_exchange(source):
    # kombu's Exchange is durable unless told otherwise; auto_delete is what the Python side adds.
    return Exchange(f"{source}.events", type="topic", auto_delete=True)


def say(value):
    print(json.dumps(value), flush=True)


# micro_framework's own exception names, which its client recreates by name.
class FrameworkException(Exception):
    pass


class RPCTargetDoesNotExist(FrameworkException):
    pass


class RPCMalformedMessage(FrameworkException):
    pass


class RPCException(FrameworkException):
    pass


FRAMEWORK_EXCEPTIONS = {cls.__name__: cls for cls in (FrameworkException, RPCTargetDoesNotExist, RPCMalformedMessage, RPCException)}


class OutOfStock(Exception):
    """An application exception the caller cannot import (it lives in __main__ of this peer)."""


# The service's RPC targets.
def add(a, b):
    """Adds two numbers."""
    return a + b


def greet(name, greeting="hello"):
    return f"{greeting}, {name}"


def divide(a, b):
    return a / b


def reserve(sku, quantity=1):
    raise OutOfStock(f"no stock for {sku}")


def slow(seconds):
    import time

    time.sleep(seconds)
    return seconds


TARGETS = {f.__name__: f for f in (add, greet, divide, reserve, slow)}


def target_detail(name):
    import inspect

    parameters = inspect.signature(TARGETS[name]).parameters.values()
    return {
        "target": name,
        "args": [p.name for p in parameters if p.default is inspect.Parameter.empty],
        "kwargs": [p.name for p in parameters if p.default is not inspect.Parameter.empty],
        "docstring": inspect.getdoc(TARGETS[name]),
    }


def rpc_response(data, exception=None):
    """A reply as micro_framework formats it: a JSON *string*, which kombu then serializes again."""
    body = None
    if exception is not None:
        body = {
            "exception": type(exception).__name__,
            "message": str(exception),
            "args": list(exception.args),
            "kwargs": {},
            "module": type(exception).__module__,
        }
    return json.dumps({"data": data, "exception": body})


def run_command(service, routing_key, message):
    command = message["command"]
    args = message.get("command_args", [])
    kwargs = message.get("command_kwargs", {})
    target_id = routing_key.split(".", 1)[1]
    if target_id.startswith("_broadcast."):
        target_id = target_id.split("_broadcast.", 1)[1]
    try:
        if command == "__list_targets__":
            return rpc_response([target_detail(name) for name in TARGETS])
        if command == "__get_target__":
            return rpc_response(target_detail(*args))
        if command not in TARGETS or target_id != command:
            raise RPCTargetDoesNotExist(f"{command} does not exist or is not exposed through a RPC method.")
        return rpc_response(TARGETS[command](*args, **kwargs))
    except Exception as exc:  # the target's failure is the reply
        return rpc_response(None, exc)


def serve(options):
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    with Connection(options.url, transport_options={"confirm_publish": True}) as conn:
        conn.connect()
        replies = Producer(conn.channel(), serializer="json")

        def on_rpc(body, message):
            reply_to = message.properties.get("reply_to")
            correlation_id = message.properties.get("correlation_id")
            if reply_to and correlation_id:
                response = run_command(options.service, message.delivery_info["routing_key"], body)
                replies.publish(response, exchange=RPC_EXCHANGE, routing_key=reply_to, correlation_id=correlation_id,
                                delivery_mode=2, retry=True)
            message.ack()

        def on_event(key):
            source, event = key.split(".", 1)

            def handle(body, message):
                # As micro_framework's ConsumerManager: a message is matched to its listener by exchange
                # and routing key; one that matches none is acked and dropped.
                if (message.delivery_info["exchange"], message.delivery_info["routing_key"]) != (f"{source}.events", event):
                    say({"dropped": key, "exchange": message.delivery_info["exchange"], "routing_key": message.delivery_info["routing_key"]})
                    message.ack()
                    return
                say({"event": key, "payload": body, "headers": message.headers,
                     "content_type": message.content_type, "routing_key": message.delivery_info["routing_key"]})
                message.ack()

            return handle

        rpc_queues = [Queue(f"rpc-{options.service}-{name}", exchange=RPC_EXCHANGE, routing_key=f"{options.service}.{name}")
                      for name in TARGETS]
        broadcast = Queue(f"rpc-{options.service}-broadcast", exchange=RPC_EXCHANGE, routing_key=f"{options.service}._broadcast.*")
        consumers = [
            Consumer(conn.channel(), queues=rpc_queues, callbacks=[on_rpc], no_ack=False, prefetch_count=3),
            Consumer(conn.channel(), queues=[broadcast], callbacks=[on_rpc], no_ack=False),
        ]
        for key in options.listen:
            source, event = key.split(".", 1)
            queue = Queue(f"{source}.{event}__{options.service}.record", exchange=events_exchange(source), routing_key=event, durable=True)
            consumers.append(Consumer(conn.channel(), queues=[queue], callbacks=[on_event(key)], no_ack=False, prefetch_count=3))
        for consumer in consumers:
            consumer.consume()
        say({"ready": True})
        while not stopping:
            try:
                conn.drain_events(timeout=0.2)
            except socket.timeout:
                pass
        for consumer in consumers:
            consumer.cancel()
    return 0


def recreate_exception(exception):
    """What micro_framework's client raises for a remote exception: a builtin or framework one by
    name, one imported from its module, or RPCException carrying the whole description."""
    args = exception.get("args", (exception.get("message"),))
    kwargs = exception.get("kwargs", {})
    name = exception["exception"]
    if hasattr(builtins, name) and isinstance(getattr(builtins, name), type):
        return getattr(builtins, name)(*args, **kwargs)
    if name in FRAMEWORK_EXCEPTIONS:
        return FRAMEWORK_EXCEPTIONS[name](*args, **kwargs)
    try:
        import importlib

        return getattr(importlib.import_module(exception["module"]), name)(*args, **kwargs)
    except Exception:
        return RPCException(exception)


def call(options):
    command = options.target
    routing_key = (f"{options.service}._broadcast.{command}" if command in INTERNAL_COMMANDS
                   else f"{options.service}.{command}")
    request = {"command": command, "command_args": json.loads(options.args), "command_kwargs": json.loads(options.kwargs)}
    with Connection(options.url, transport_options={"confirm_publish": True}) as conn:
        conn.connect()
        name = f"ufw-reply-{uuid.uuid4()}"
        reply_queue = Queue(name, exchange=RPC_EXCHANGE, routing_key=name, message_ttl=3600 * 24, expires=3600 * 12)
        channel = conn.channel()
        reply_queue(channel).declare()
        received = []
        correlation_id = str(uuid.uuid4())

        def on_reply(body, message):
            # micro_framework's reply listener is matched by exchange ufw-rpc and its queue's name.
            matches = (message.delivery_info["exchange"], message.delivery_info["routing_key"]) == ("ufw-rpc", name)
            if matches and message.properties.get("correlation_id") == correlation_id:
                received.append(body)
            message.ack()

        consumer = Consumer(channel, queues=[reply_queue], callbacks=[on_reply], no_ack=False)
        consumer.consume()
        try:
            Producer(conn.channel(), serializer="json").publish(
                request, exchange=RPC_EXCHANGE, routing_key=routing_key, correlation_id=correlation_id,
                reply_to=name, mandatory=True, delivery_mode=2, retry=True, retry_policy={"max_retries": 3})
        except ChannelError as exc:
            if "NO_ROUTE" in str(exc):
                return report_error(RPCTargetDoesNotExist())
            raise
        deadline = options.timeout
        while not received and deadline > 0:
            try:
                conn.drain_events(timeout=0.1)
            except socket.timeout:
                pass
            deadline -= 0.1
        consumer.cancel()
        reply_queue(conn.channel()).delete()
        if not received:
            return report_error(TimeoutError())
        try:
            response = json.loads(received[0])  # the client parses the decoded body once more
        except TypeError as exc:
            return report_error(exc, raw=received[0])
        if response.get("exception"):
            return report_error(recreate_exception(response["exception"]))
        say({"data": response.get("data")})
    return 0


def report_error(error, raw=None):
    remote = error.args[0] if isinstance(error, RPCException) and error.args else None
    say({"error": {"type": type(error).__name__, "args": [a if isinstance(a, (str, int, float, dict, list)) else repr(a) for a in error.args],
                   "remote": remote, "raw": raw}})
    return 0


def dispatch(options):
    headers = dict(pair.split("=", 1) for pair in options.header)
    with Connection(options.url, transport_options={"confirm_publish": True}) as conn:
        conn.connect()
        try:
            Producer(conn.channel(), serializer="json").publish(
                json.loads(options.payload), exchange=events_exchange(options.source), routing_key=options.event,
                headers=headers, delivery_mode=2)
        except ChannelError as exc:
            say({"error": {"type": type(exc).__name__, "args": [str(exc)]}})
            return 0
    say({"published": True})
    return 0


def declare_events(options):
    with Connection(options.url) as conn:
        conn.connect()
        events_exchange(options.source)(conn.channel()).declare()
    say({"declared": f"{options.source}.events"})
    return 0


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=os.environ.get("AMQP_URL", "amqp://guest:guest@127.0.0.1:5672//"))
    commands = parser.add_subparsers(dest="command", required=True)
    p = commands.add_parser("serve")
    p.add_argument("--service", required=True)
    p.add_argument("--listen", action="append", default=[])
    p.set_defaults(run=serve)
    p = commands.add_parser("call")
    p.add_argument("--service", required=True)
    p.add_argument("--target", required=True)
    p.add_argument("--args", default="[]")
    p.add_argument("--kwargs", default="{}")
    p.add_argument("--timeout", type=float, default=10.0)
    p.set_defaults(run=call)
    p = commands.add_parser("dispatch")
    p.add_argument("--source", required=True)
    p.add_argument("--event", required=True)
    p.add_argument("--payload", required=True)
    p.add_argument("--header", action="append", default=[])
    p.set_defaults(run=dispatch)
    p = commands.add_parser("declare-events")
    p.add_argument("--source", required=True)
    p.set_defaults(run=declare_events)
    options = parser.parse_args()
    return options.run(options)


if __name__ == "__main__":
    sys.exit(main())
