// Small SVG charts drawn by the app itself (no library, no CDN): a line of percentages over time with a
// 0–100 % axis. Each chart is an <svg role="img"> whose accessible name states the figures, and the same
// figures are always in a table next to it, so the picture is never the only way to read them.
'use strict';
(function () {
  const R = window.Rollcall;
  const W = 640;
  const H = 200;
  const PAD = { left: 44, right: 12, top: 12, bottom: 30 };

  /**
   * points: [{ label, value (0–100, or null to skip) }] in order. Returns an <svg> that scales to its
   * container's width.
   */
  function percentLine(points, title) {
    const shown = points.filter((p) => p.value !== null && p.value !== undefined);
    const last = shown.length ? shown[shown.length - 1] : null;
    const summary = shown.length
      ? `${title}: ${shown.length} point${shown.length === 1 ? '' : 's'}, latest ${last.value}% (${last.label})`
      : `${title}: no data yet`;
    const svg = R.el('svg:svg', {
      viewBox: `0 0 ${W} ${H}`,
      role: 'img',
      'aria-label': summary,
      class: 'chart',
      preserveAspectRatio: 'xMidYMid meet',
    });
    svg.append(R.el('svg:title', { text: summary }));
    const x = (i) =>
      PAD.left +
      (points.length <= 1
        ? (W - PAD.left - PAD.right) / 2
        : (i * (W - PAD.left - PAD.right)) / (points.length - 1));
    const y = (v) => PAD.top + ((100 - v) * (H - PAD.top - PAD.bottom)) / 100;
    for (const v of [0, 50, 100]) {
      svg.append(
        R.el('svg:line', { x1: PAD.left, x2: W - PAD.right, y1: y(v), y2: y(v), class: 'chart-grid' }),
        R.el('svg:text', {
          x: PAD.left - 6,
          y: y(v) + 4,
          'text-anchor': 'end',
          class: 'chart-label',
          text: v + '%',
        }),
      );
    }
    if (points.length) {
      svg.append(
        R.el('svg:text', {
          x: PAD.left,
          y: H - 8,
          'text-anchor': 'start',
          class: 'chart-label',
          text: points[0].label,
        }),
      );
      if (points.length > 1)
        svg.append(
          R.el('svg:text', {
            x: W - PAD.right,
            y: H - 8,
            'text-anchor': 'end',
            class: 'chart-label',
            text: points[points.length - 1].label,
          }),
        );
    }
    const coords = points
      .map((p, i) => (p.value === null || p.value === undefined ? null : [x(i), y(p.value), p]))
      .filter(Boolean);
    if (coords.length > 1)
      svg.append(
        R.el('svg:polyline', { points: coords.map((c) => c[0] + ',' + c[1]).join(' '), class: 'chart-line' }),
      );
    for (const [cx, cy, p] of coords) {
      const dot = R.el('svg:circle', { cx, cy, r: 4, class: 'chart-dot' });
      dot.append(R.el('svg:title', { text: `${p.label}: ${p.value}%` }));
      svg.append(dot);
    }
    return svg;
  }

  R.charts = { percentLine };
})();
