"""``chainrule playground``: train a network in the browser and click any weight to see
its chain-rule derivation, with today's numbers, from ``chainrule.explain``.

A local web app (Starlette on uvicorn, a WebSocket per tab) over the real engine:
``session`` (one tab's data, network, optimizer), ``datasets`` (toy sets, CSV uploads),
``presets`` (the seed tutorials' networks), ``network`` (the page's settings -> model),
``derivation`` (explain's blocks for KaTeX) and ``update`` (the optimizer's step of one
element), ``surfaces`` (optimizer paths on 2-parameter losses), ``server`` (routes,
WebSocket, ``serve``) and ``static/`` (the page: plain HTML, JS and CSS; KaTeX from
``chainrule._vendor``). Only ``server`` needs the ``playground`` extra.
"""
