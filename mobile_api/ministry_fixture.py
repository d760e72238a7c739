"""A small stand-in for the ministry's service (招聘会, 岗位, 公考) for development and tests.

It is a real HTTP server (standard library) that answers the three listings page by page and can be
told, through ``POST /_control`` with ``{"fail": true}`` or ``{"delay": 1.5}``, to answer 503 or to wait
before answering, so a client's timeouts and circuit breaker can be exercised. ``GET /_control`` shows
the settings and how many listing requests were served.

    python -m mobile_api.ministry_fixture --port 8091
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

PAGE_SIZE = 10

JOB_FAIRS = [
    {
        "id": f"JF2026{n:04d}",
        "title": title,
        "city": "长沙市",
        "venue": venue,
        "date": f"2026-12-{n + 1:02d}",
        "organizer": "长沙市人力资源和社会保障局",
        "employers": 40 + 7 * n,
        "positions": 600 + 55 * n,
    }
    for n, (title, venue) in enumerate(
        [
            ("2026年冬季高校毕业生专场招聘会", "长沙国际会展中心"),
            ("就业援助月专场招聘会", "长沙人力资源市场"),
            ("退役军人专场招聘会", "湖南省人才市场"),
            ("智能制造产业人才招聘会", "长沙经开区人才服务中心"),
            ("春风行动·返乡务工人员招聘会", "长沙县星沙人力资源市场"),
            ("医疗卫生专场招聘会", "湖南省人才市场"),
            ("民营企业招聘月活动", "长沙人力资源市场"),
            ("岳麓山大学科技城人才招聘会", "岳麓区政务服务中心"),
            ("湘江新区重点企业招聘会", "湘江新区人才服务中心"),
            ("离校未就业毕业生专场", "长沙市就业服务中心"),
            ("残疾人就业专场招聘会", "长沙市残疾人就业服务中心"),
            ("现代服务业招聘会", "长沙国际会展中心"),
        ]
    )
]

JOBS = [
    {
        "id": f"JB2026{n:05d}",
        "title": title,
        "employer": employer,
        "city": "长沙市",
        "salary_min": 4000 + 500 * (n % 6),
        "salary_max": 7000 + 800 * (n % 6),
        "education": ("大专", "本科", "硕士")[n % 3],
        "posted": f"2026-11-{n % 27 + 1:02d}",
    }
    for n, (title, employer) in enumerate(
        [
            (t, e)
            for t in ("社保经办员", "数据分析师", "软件工程师", "客服专员", "会计", "护士", "机械工程师")
            for e in ("长沙某科技有限公司", "湖南某医院", "长沙某制造集团")
        ]
    )
]

EXAMS = [
    {
        "id": f"EX2026{n:03d}",
        "title": title,
        "level": level,
        "register_from": reg_from,
        "register_to": reg_to,
        "exam_date": exam,
        "url": "https://www.mohrss.gov.cn/",
    }
    for n, (title, level, reg_from, reg_to, exam) in enumerate(
        [
            ("2027年度中央机关及其直属机构考试录用公务员", "国家", "2026-10-15", "2026-10-24", "2026-11-30"),
            ("2027年湖南省考试录用公务员", "省级", "2027-02-20", "2027-02-27", "2027-03-22"),
            ("2026年下半年湖南省事业单位公开招聘", "省级", "2026-08-01", "2026-08-07", "2026-09-13"),
            ("2027年长沙市事业单位公开招聘", "市级", "2027-04-10", "2027-04-16", "2027-05-18"),
            ("2027年全国专业技术人员职业资格考试", "国家", "2027-03-01", "2027-03-20", "2027-05-25"),
        ]
    )
]

LISTINGS: dict[str, list[dict[str, Any]]] = {"/v1/job-fairs": JOB_FAIRS, "/v1/jobs": JOBS, "/v1/exams": EXAMS}


@dataclass
class Behaviour:
    """What the fixture does now; changed through ``POST /_control``."""

    fail: bool = False
    delay: float = 0.0
    served: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


def _page(items: list[dict[str, Any]], query: dict[str, list[str]]) -> dict[str, Any]:
    keyword = (query.get("keyword") or [""])[0]
    if keyword:
        items = [i for i in items if keyword in i["title"] or keyword in i.get("employer", "")]
    page = int((query.get("page") or ["1"])[0])
    if page < 1:
        raise ValueError("page")
    start = (page - 1) * PAGE_SIZE
    chunk = items[start : start + PAGE_SIZE]
    return {"items": chunk, "page": page, "next_page": page + 1 if start + PAGE_SIZE < len(items) else None}


def make_handler(state: Behaviour) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "MinistryFixture/1"

        def log_message(self, format: str, *args: Any) -> None:
            return  # quiet: tests and the demo have their own logs

        def _send(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body, ensure_ascii=False).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            url = urlsplit(self.path)
            if url.path == "/_control":
                self._send(200, {"fail": state.fail, "delay": state.delay, "served": state.served})
                return
            items = LISTINGS.get(url.path)
            if items is None:
                self._send(404, {"error": "not found"})
                return
            with state.lock:
                state.served += 1
                fail, delay = state.fail, state.delay
            if delay:
                time.sleep(delay)
            if fail:
                self._send(503, {"error": "service unavailable"})
                return
            try:
                self._send(200, _page(items, parse_qs(url.query)))
            except ValueError:
                self._send(400, {"error": "bad page"})

        def do_POST(self) -> None:
            if urlsplit(self.path).path != "/_control":
                self._send(404, {"error": "not found"})
                return
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length) or b"{}")
            with state.lock:
                state.fail = bool(body.get("fail", state.fail))
                state.delay = float(body.get("delay", state.delay))
            self._send(200, {"fail": state.fail, "delay": state.delay})

    return Handler


class MinistryFixture:
    """The fixture server on a thread; ``url`` is its base URL. Use as a context manager."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.behaviour = Behaviour()
        self.server = ThreadingHTTPServer((host, port), make_handler(self.behaviour))
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, name="ministry-fixture", daemon=True)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"

    def set(self, *, fail: bool | None = None, delay: float | None = None) -> None:
        with self.behaviour.lock:
            if fail is not None:
                self.behaviour.fail = fail
            if delay is not None:
                self.behaviour.delay = delay

    def __enter__(self) -> MinistryFixture:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Ministry service fixture (招聘会、岗位、公考)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8091)
    args = parser.parse_args(argv)
    fixture = MinistryFixture(args.host, args.port)
    print(f"ministry fixture on {fixture.url} (POST /_control {{'fail': true}} or {{'delay': 1.5}})")
    try:
        fixture.server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        fixture.server.server_close()


if __name__ == "__main__":
    main()
