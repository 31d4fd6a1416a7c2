// A small QR code encoder (ISO/IEC 18004, after Project Nayuki's reference design), so an admin can scan the
// otpauth:// link of TOTP enrolment instead of typing the key: byte mode, error correction level M, the
// smallest version 1–40 that fits, drawn as one SVG path. Of the mask penalty rules, runs, 2×2 blocks and
// the dark/light balance are scored; the finder-like rule is left out (every mask decodes; the rules only
// pick the easiest to scan). window.Rollcall.qr.svg(text, label) answers the <svg>.
'use strict';
(function () {
  const R = window.Rollcall;
  // Level M, by version (index 0 unused).
  const ECC_PER_BLOCK = [
    -1, 10, 16, 26, 18, 24, 16, 18, 22, 22, 26, 30, 22, 22, 24, 24, 28, 28, 26, 26, 26, 26, 28, 28, 28, 28,
    28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28,
  ];
  const BLOCKS = [
    -1, 1, 1, 1, 2, 2, 4, 4, 4, 5, 5, 5, 8, 9, 9, 10, 10, 11, 13, 14, 16, 17, 17, 18, 20, 21, 23, 25, 26, 28,
    29, 31, 33, 35, 37, 38, 40, 43, 45, 47, 49,
  ];
  const FORMAT_LEVEL_M = 0;

  const bit = (x, i) => ((x >>> i) & 1) !== 0;

  /** Modules of a version that carry data and error correction (all but the function patterns). */
  function rawModules(ver) {
    let n = (16 * ver + 128) * ver + 64;
    if (ver >= 2) {
      const align = Math.floor(ver / 7) + 2;
      n -= (25 * align - 10) * align - 55;
      if (ver >= 7) n -= 36;
    }
    return n;
  }
  const dataCodewords = (ver) => Math.floor(rawModules(ver) / 8) - ECC_PER_BLOCK[ver] * BLOCKS[ver];

  /** GF(2^8) product modulo x^8 + x^4 + x^3 + x^2 + 1. */
  function gfMul(x, y) {
    let z = 0;
    for (let i = 7; i >= 0; i--) {
      z = (z << 1) ^ ((z >>> 7) * 0x11d);
      z ^= ((y >>> i) & 1) * x;
    }
    return z;
  }
  function rsDivisor(degree) {
    const d = new Array(degree - 1).fill(0).concat([1]);
    let root = 1;
    for (let i = 0; i < degree; i++) {
      for (let j = 0; j < d.length; j++) {
        d[j] = gfMul(d[j], root);
        if (j + 1 < d.length) d[j] ^= d[j + 1];
      }
      root = gfMul(root, 0x02);
    }
    return d;
  }
  function rsRemainder(data, divisor) {
    const r = divisor.map(() => 0);
    for (const b of data) {
      const factor = b ^ r.shift();
      r.push(0);
      divisor.forEach((c, i) => (r[i] ^= gfMul(c, factor)));
    }
    return r;
  }

  /** The data codewords split into blocks, each with its error correction, interleaved. */
  function withErrorCorrection(data, ver) {
    const blocks = BLOCKS[ver];
    const eccLen = ECC_PER_BLOCK[ver];
    const raw = Math.floor(rawModules(ver) / 8);
    const shortBlocks = blocks - (raw % blocks);
    const shortLen = Math.floor(raw / blocks);
    const divisor = rsDivisor(eccLen);
    const all = [];
    for (let i = 0, k = 0; i < blocks; i++) {
      const block = data.slice(k, k + shortLen - eccLen + (i < shortBlocks ? 0 : 1));
      k += block.length;
      const ecc = rsRemainder(block, divisor);
      if (i < shortBlocks) block.push(0);
      all.push(block.concat(ecc));
    }
    const out = [];
    for (let i = 0; i < all[0].length; i++)
      all.forEach((block, j) => {
        if (i !== shortLen - eccLen || j >= shortBlocks) out.push(block[i]);
      });
    return out;
  }

  /** Byte mode segment, terminator and padding: the data codewords of `bytes` in version `ver`. */
  function dataBits(bytes, ver) {
    const bits = [];
    const put = (value, n) => {
      for (let i = n - 1; i >= 0; i--) bits.push((value >>> i) & 1);
    };
    put(0b0100, 4);
    put(bytes.length, ver < 10 ? 8 : 16);
    bytes.forEach((b) => put(b, 8));
    const capacity = dataCodewords(ver) * 8;
    put(0, Math.min(4, capacity - bits.length));
    put(0, (8 - (bits.length % 8)) % 8);
    const words = [];
    for (let i = 0; i < bits.length; i += 8) words.push(parseInt(bits.slice(i, i + 8).join(''), 2));
    for (let pad = 0xec; words.length < capacity / 8; pad ^= 0xec ^ 0x11) words.push(pad);
    return words;
  }

  function alignmentPositions(ver, size) {
    if (ver === 1) return [];
    const n = Math.floor(ver / 7) + 2;
    const step = Math.floor((ver * 8 + n * 3 + 5) / (n * 4 - 4)) * 2;
    const out = [6];
    for (let pos = size - 7; out.length < n; pos -= step) out.splice(1, 0, pos);
    return out;
  }

  /** The module matrix (true: dark) of `text`, UTF-8, at level M. */
  function encode(text) {
    const bytes = [...new TextEncoder().encode(text)];
    let ver = 1;
    while (4 + (ver < 10 ? 8 : 16) + bytes.length * 8 > dataCodewords(ver) * 8)
      if (++ver > 40) throw new RangeError('too long for a QR code');
    const size = ver * 4 + 17;
    const dark = Array.from({ length: size }, () => new Array(size).fill(false));
    const fixed = Array.from({ length: size }, () => new Array(size).fill(false));
    const set = (x, y, v) => {
      dark[y][x] = v;
      fixed[y][x] = true;
    };

    for (let i = 0; i < size; i++) {
      set(6, i, i % 2 === 0);
      set(i, 6, i % 2 === 0);
    }
    for (const [cx, cy] of [
      [3, 3],
      [size - 4, 3],
      [3, size - 4],
    ])
      for (let dy = -4; dy <= 4; dy++)
        for (let dx = -4; dx <= 4; dx++) {
          const d = Math.max(Math.abs(dx), Math.abs(dy));
          const x = cx + dx;
          const y = cy + dy;
          if (x >= 0 && x < size && y >= 0 && y < size) set(x, y, d !== 2 && d !== 4);
        }
    const align = alignmentPositions(ver, size);
    const last = align.length - 1;
    align.forEach((ax, i) =>
      align.forEach((ay, j) => {
        if ((i === 0 && j === 0) || (i === 0 && j === last) || (i === last && j === 0)) return;
        for (let dy = -2; dy <= 2; dy++)
          for (let dx = -2; dx <= 2; dx++) set(ax + dx, ay + dy, Math.max(Math.abs(dx), Math.abs(dy)) !== 1);
      }),
    );
    const drawFormat = (mask) => {
      const data = (FORMAT_LEVEL_M << 3) | mask;
      let rem = data;
      for (let i = 0; i < 10; i++) rem = (rem << 1) ^ ((rem >>> 9) * 0x537);
      const bits = ((data << 10) | rem) ^ 0x5412;
      for (let i = 0; i <= 5; i++) set(8, i, bit(bits, i));
      set(8, 7, bit(bits, 6));
      set(8, 8, bit(bits, 7));
      set(7, 8, bit(bits, 8));
      for (let i = 9; i < 15; i++) set(14 - i, 8, bit(bits, i));
      for (let i = 0; i < 8; i++) set(size - 1 - i, 8, bit(bits, i));
      for (let i = 8; i < 15; i++) set(8, size - 15 + i, bit(bits, i));
      set(8, size - 8, true);
    };
    drawFormat(0);
    if (ver >= 7) {
      let rem = ver;
      for (let i = 0; i < 12; i++) rem = (rem << 1) ^ ((rem >>> 11) * 0x1f25);
      const bits = (ver << 12) | rem;
      for (let i = 0; i < 18; i++) {
        const a = size - 11 + (i % 3);
        const b = Math.floor(i / 3);
        set(a, b, bit(bits, i));
        set(b, a, bit(bits, i));
      }
    }

    // The codewords, two columns at a time, zigzagging up and down from the bottom right.
    const codewords = withErrorCorrection(dataBits(bytes, ver), ver);
    let i = 0;
    for (let right = size - 1; right >= 1; right -= 2) {
      if (right === 6) right = 5;
      for (let vert = 0; vert < size; vert++)
        for (let j = 0; j < 2; j++) {
          const x = right - j;
          const y = ((right + 1) & 2) === 0 ? size - 1 - vert : vert;
          if (!fixed[y][x] && i < codewords.length * 8) {
            dark[y][x] = bit(codewords[i >>> 3], 7 - (i & 7));
            i++;
          }
        }
    }

    const masks = [
      (x, y) => (x + y) % 2 === 0,
      (x, y) => y % 2 === 0,
      (x) => x % 3 === 0,
      (x, y) => (x + y) % 3 === 0,
      (x, y) => (Math.floor(x / 3) + Math.floor(y / 2)) % 2 === 0,
      (x, y) => ((x * y) % 2) + ((x * y) % 3) === 0,
      (x, y) => (((x * y) % 2) + ((x * y) % 3)) % 2 === 0,
      (x, y) => (((x + y) % 2) + ((x * y) % 3)) % 2 === 0,
    ];
    const applyMask = (m) => {
      for (let y = 0; y < size; y++)
        for (let x = 0; x < size; x++) if (!fixed[y][x] && masks[m](x, y)) dark[y][x] = !dark[y][x];
    };
    const penalty = () => {
      let score = 0;
      let total = 0;
      for (let a = 0; a < size; a++) {
        let runRow = 1;
        let runCol = 1;
        for (let b = 0; b < size; b++) {
          if (dark[a][b]) total++;
          if (b === 0) continue;
          runRow = dark[a][b] === dark[a][b - 1] ? runRow + 1 : 1;
          runCol = dark[b][a] === dark[b - 1][a] ? runCol + 1 : 1;
          if (runRow === 5) score += 3;
          else if (runRow > 5) score++;
          if (runCol === 5) score += 3;
          else if (runCol > 5) score++;
        }
      }
      for (let y = 0; y < size - 1; y++)
        for (let x = 0; x < size - 1; x++) {
          const c = dark[y][x];
          if (c === dark[y][x + 1] && c === dark[y + 1][x] && c === dark[y + 1][x + 1]) score += 3;
        }
      const k = Math.ceil(Math.abs(total * 20 - size * size * 10) / (size * size)) - 1;
      return score + Math.max(0, k) * 10;
    };
    let best = 0;
    let bestScore = Infinity;
    for (let m = 0; m < 8; m++) {
      applyMask(m);
      drawFormat(m);
      const score = penalty();
      if (score < bestScore) {
        best = m;
        bestScore = score;
      }
      applyMask(m); // XOR again: undone
    }
    applyMask(best);
    drawFormat(best);
    return dark;
  }

  /** An SVG of the code with its 4-module quiet zone, labelled for screen readers. */
  function svg(text, label) {
    const modules = encode(text);
    const side = modules.length + 8;
    let d = '';
    modules.forEach((row, y) =>
      row.forEach((on, x) => {
        if (on) d += `M${x + 4} ${y + 4}h1v1h-1z`;
      }),
    );
    return R.el(
      'svg:svg',
      {
        class: 'qr',
        viewBox: `0 0 ${side} ${side}`,
        role: 'img',
        'aria-label': label,
        'shape-rendering': 'crispEdges',
      },
      [R.el('svg:rect', { width: side, height: side, fill: '#fff' }), R.el('svg:path', { d, fill: '#000' })],
    );
  }

  R.qr = { encode, svg };
})();
