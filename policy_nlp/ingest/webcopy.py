"""Web copies of a report for training and testing the boilerplate classifier.

`wrap(body, style, seed)` puts the lines of a clean report (its title first) inside the lines a web
site adds around it — headers, breadcrumbs, share bars, page numbers, footers — in one of STYLES,
and labels every line: True for boilerplate, False for the report. `to_html` renders a copy as a
web page with the site lines in navigation, header and footer blocks. All site text here is made up
for this purpose (names, numbers and addresses are invented).
"""

from __future__ import annotations

import html
import random
from collections.abc import Callable
from dataclasses import dataclass

#: A line of a web copy and whether it is boilerplate.
Labelled = tuple[str, bool]


@dataclass
class WebCopy:
    """A wrapped report: header site lines, the report with site lines inside it, footer site lines."""

    style: str
    header: list[str]
    body: list[Labelled]
    footer: list[str]

    def lines(self) -> list[Labelled]:
        return [(line, True) for line in self.header] + self.body + [(line, True) for line in self.footer]


_NAMES = ("云海", "晨曦", "清风", "小石头", "蓝天白云", "星河", "木子", "静水流深")
_SITES = ("第一公文网", "范文大全网", "公文易", "文库吧", "写作屋", "好范文", "文秘帮", "工作总结网")
_DOMAINS = ("www.diyigongwen.com", "www.fanwenwu.cn", "wenku.xiezuo8.net", "www.gwyi.com.cn", "m.wenmi365.com")
_CITIES = ("绍兴市", "宁波市", "遵义市", "南昌市", "洛阳市", "泉州市", "株洲市")
_STREETS = ("站前大道", "解放北路", "人民中路", "迎宾大道", "学府路", "文化路")


def _date(rng: random.Random, sep: str = "-") -> str:
    return f"{rng.randint(2015, 2025)}{sep}{rng.randint(1, 12):02d}{sep}{rng.randint(1, 28):02d}"


def _related(rng: random.Random) -> list[str]:
    stems = ("学校安全工作总结", "教师培训工作计划", "关于开展暑期家访活动的通知", "教研室工作要点", "德育工作总结范文")
    return [f"{rng.randint(2018, 2025)}年{rng.choice(stems)}" for _ in range(rng.randint(2, 5))]


def _fanwen(title: str, rng: random.Random) -> tuple[list[str], list[str]]:
    header = [
        f"{title}{rng.randint(1, 9)}",
        f"{rng.choice(_NAMES)} 分享 时间:{_date(rng)}",
        f"以下是网友为您整理分享的“{title}”相关范文,供您参考!",
    ]
    footer = [f"{rng.randint(10, 99)} {rng.randint(1000000, 9999999)}", "相关范文推荐", *_related(rng)]
    return header, footer


def _gov_portal(title: str, rng: random.Random) -> tuple[list[str], list[str]]:
    header = [
        f"{rng.choice(_CITIES)}教育局门户网站",
        "首页 > 政务公开 > 通知公告",
        f"文章来源：{rng.choice(_CITIES)}教育局 点击数：{rng.randint(50, 9000)} 更新时间：{_date(rng)}",
        "【字体：大 中 小】 【打印本页】 【关闭窗口】",
    ]
    footer = [
        f"上一篇：{rng.choice(_related(rng))}",
        f"下一篇：{rng.choice(_related(rng))}",
        f"主办单位：{rng.choice(_CITIES)}教育局 网站标识码：{rng.randint(3300000000, 3399999999)}",
        f"浙ICP备{rng.randint(10000000, 99999999)}号-1 浙公网安备 {rng.randint(33000000000000, 33999999999999)}号",
    ]
    return header, footer


def _doc_share(title: str, rng: random.Random) -> tuple[list[str], list[str]]:
    site, domain = rng.choice(_SITES), rng.choice(_DOMAINS)
    header = [
        f"{site} {domain}",
        "分享到：微信微博 QQ空间",
        f"文档页数：{rng.randint(2, 30)}页 下载次数：{rng.randint(10, 5000)} 上传者：{rng.choice(_NAMES)}",
        f"{title}_{site}",
    ]
    footer = ["下载文档到电脑，查找使用更方便", f"{rng.randint(1, 9)}积分 下载", "还剩几页未读，继续阅读", f"{site}版权所有"]
    return header, footer


def _pdf_pages(title: str, rng: random.Random) -> tuple[list[str], list[str]]:
    year = rng.randint(2015, 2025)
    header = [f"{rng.choice(_CITIES)}教育信息 {year}年第{rng.randint(1, 24)}期", f"- {rng.randint(1, 3)} -"]
    return header, [f"第 {rng.randint(8, 20)} 页 共 {rng.randint(20, 30)} 页", f"{rng.choice(_SITES)}整理 仅供学习参考"]


def _wechat(title: str, rng: random.Random) -> tuple[list[str], list[str]]:
    account = f"{rng.choice(_CITIES)[:2]}教育发布"
    header = [
        f"原创 {account} {account} {_date(rng)} {rng.randint(7, 21):02d}:{rng.randint(0, 59):02d} 浙江",
        "点击蓝字 关注我们",
        f"▲ 长按识别二维码关注“{account}”",
    ]
    footer = [
        f"来源：{account}",
        f"编辑：{rng.choice(_NAMES)} | 审核：{rng.choice(_NAMES)}",
        "往期推荐",
        *_related(rng),
        "点个“在看”，你最好看",
        "阅读原文",
    ]
    return header, footer


def _school_site(title: str, rng: random.Random) -> tuple[list[str], list[str]]:
    city = rng.choice(_CITIES)
    header = [
        "学校首页 学校概况 新闻中心 教学科研 德育天地 党建工作 联系我们",
        "当前位置：首页 >> 通知公告 >> 上级文件",
        f"发布者：管理员 发布时间：{_date(rng, '/')} 阅读：{rng.randint(30, 3000)}次",
    ]
    footer = [
        f"地址：{city}{rng.choice(_STREETS)}{rng.randint(1, 2000)}号电话&传真：0575-{rng.randint(80000000, 89999999)}",
        f"邮编：{rng.randint(310000, 339999)} 技术支持：{rng.choice(_NAMES)}网络科技",
        f"Copyright 2008-2025 {city}第{rng.choice('一二三四五')}中学",
    ]
    return header, footer


def _forum(title: str, rng: random.Random) -> tuple[list[str], list[str]]:
    header = [
        f"楼主 {rng.choice(_NAMES)} 发表于 {_date(rng)} {rng.randint(0, 23)}:{rng.randint(0, 59):02d} 只看该作者",
        f"查看: {rng.randint(100, 9999)}|回复: {rng.randint(0, 99)}",
    ]
    footer = [
        "回复 支持 反对",
        f"沙发 {rng.choice(_NAMES)} 发表于 {_date(rng)}",
        "谢谢楼主分享，学习了",
        "返回列表 发新帖",
    ]
    return header, footer


STYLES: dict[str, Callable[[str, random.Random], tuple[list[str], list[str]]]] = {
    "fanwen": _fanwen,
    "gov_portal": _gov_portal,
    "doc_share": _doc_share,
    "pdf_pages": _pdf_pages,
    "wechat": _wechat,
    "school_site": _school_site,
    "forum": _forum,
}
#: Styles the classifier is trained on; the others are held out for evaluation.
TRAIN_STYLES = ("fanwen", "gov_portal", "doc_share", "pdf_pages")
HELD_OUT_STYLES = ("wechat", "school_site", "forum")
#: The PDF style puts a running header and a page number after about this many body lines.
PDF_PAGE_LINES = 12


def wrap(body: list[str], style: str, seed: int) -> WebCopy:
    """`body` (title first) wrapped in the site lines of `style`, drawn with random `seed`."""
    rng = random.Random(seed)
    header, footer = STYLES[style](body[0], rng)
    lines: list[Labelled] = [(line, False) for line in body]
    if style == "pdf_pages":
        lines = _paginate(lines, rng)
    return WebCopy(style, header, lines, footer)


def _paginate(lines: list[Labelled], rng: random.Random) -> list[Labelled]:
    """Page numbers and a running header between pages of about PDF_PAGE_LINES lines."""
    out: list[Labelled] = []
    page = 1
    running = f"{rng.choice(_CITIES)}人民政府教育督导室"
    for n, item in enumerate(lines, 1):
        out.append(item)
        if n % PDF_PAGE_LINES == 0 and n < len(lines):
            out += [(f"- {page} -", True), (running, True)] if page % 2 else [(f"第 {page} 页 共 9 页", True)]
            page += 1
    return out


def to_text(copy: WebCopy) -> str:
    """A .txt copy: one line per line."""
    return "\n".join(line for line, _ in copy.lines()) + "\n"


def to_html(copy: WebCopy) -> str:
    """A web page: the first site line in a top bar, the rest of the header (breadcrumbs, info bars)
    and the first footer line inside the content block around the report's <p>, the footer below."""
    top, inner_head = copy.header[:1], copy.header[1:]
    inner_foot, bottom = copy.footer[:1], copy.footer[1:]

    def divs(lines: list[str], css: str) -> str:
        return "".join(f"<div class='{css}'>{html.escape(line)}</div>" for line in lines)

    body = "".join(f"<p>{html.escape(line)}</p>" for line, _ in copy.body)
    title = html.escape(copy.body[0][0])
    return (
        f"<html><head><meta charset='utf-8'><title>{title}</title></head><body>"
        f"<div id='top'>{divs(top, 'bar')}</div><div class='main'><div class='content'>"
        f"{divs(inner_head, 'info')}{body}{divs(inner_foot, 'pager')}</div></div>"
        f"<div id='bottom'>{divs(bottom, 'foot')}</div></body></html>"
    )
