"""`cnnkit explore`: a local web page for one network (docs/explore.md).

    session.py  the library: one loaded model and its inputs; every answer is a JSON-able dict
                computed by the functions the CLI's commands use (summary, feature_maps,
                conv_weights, plan + render_bytes, attribute, maximize, top_activating)
    server.py   the HTTP layer (Werkzeug): routes -> Explorer methods, the static page, serving
    static/     index.html, explore.js, explore.css: the whole page, no CDN
"""
