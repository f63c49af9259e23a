"""sphinx-gallery image scraper for the figures that neurocine builds without pyplot.

neurocine's figure functions that use :func:`neurocine.plotting.base.new_figure` return a ``Figure`` on
its own Agg canvas, which pyplot does not manage, so sphinx-gallery's matplotlib scraper never sees it.
:func:`pyplot_free_figures` saves every such ``Figure`` that an example's code block leaves in its
globals (each one once). It is named in ``docs/conf.py`` by its qualified name (a string keeps the Sphinx
configuration picklable).
"""

from __future__ import annotations

import weakref

_SEEN = weakref.WeakSet()


def pyplot_free_figures(block, block_vars, gallery_conf):
    """Save the new pyplot-free figures of a code block; return their reST (sphinx-gallery scraper protocol).

    The figures pyplot manages are marked as seen, not saved: the matplotlib scraper, which runs after this
    one, saves and closes them, and they must not be saved again by a later block.
    """
    import matplotlib.pyplot as plt
    from matplotlib.figure import Figure
    from sphinx_gallery.scrapers import figure_rst

    _SEEN.update(plt.figure(n) for n in plt.get_fignums())
    paths = []
    for value in list(block_vars["example_globals"].values()):
        if isinstance(value, Figure) and value not in _SEEN:
            _SEEN.add(value)
            path = next(block_vars["image_path_iterator"])
            value.savefig(path, dpi=100)
            paths.append(path)
    return figure_rst(paths, gallery_conf["src_dir"])
