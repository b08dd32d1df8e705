package frames

import "encoding/binary"

// The per-pixel work of the analysis: a few passes over one row at a time, so that the
// rows stay in the L1 cache while every metric reads them. Everything is integer
// arithmetic on sums and a histogram; the floating-point metrics are derived once per
// frame. The loops are written so that the compiler drops their bounds checks.

// planeSums are the sums behind the metrics of one luma plane.
type planeSums struct {
	n     int    // pixels
	sum   uint64 // Σ y
	sumSq uint64 // Σ y²
	dark  int    // pixels with y <= the black level

	lapN   int    // interior pixels (the Laplacian needs all four neighbours)
	lapSum int64  // Σ L, L = up + down + left + right - 4·centre
	lapSq  uint64 // Σ L²

	sad uint64 // Σ |y - prev|, when there is a previous plane
}

// histogram counts the pixel values of a plane. Four tallies, merged at the end, keep
// runs of equal pixels from waiting on each other's increments.
type histogram [4][256]uint32

func (h *histogram) add(row []byte) {
	h0, h1, h2, h3 := &h[0], &h[1], &h[2], &h[3]
	for len(row) >= 4 {
		h0[row[0]]++
		h1[row[1]]++
		h2[row[2]]++
		h3[row[3]]++
		row = row[4:]
	}
	for _, p := range row {
		h0[p]++
	}
}

// measure computes the sums of plane cur (w×h, rows stride bytes apart) and, when prev is
// not nil, its sum of absolute differences from prev, a plane of the same geometry.
// blackLevel is the highest y counted as dark.
func measure(s *planeSums, hist *histogram, cur, prev []byte, w, h, stride int, blackLevel uint8) {
	*s = planeSums{n: w * h}
	*hist = histogram{}
	if w <= 0 || h <= 0 {
		return
	}
	var sad uint64
	var lapSum int64
	var lapSq uint64
	for y := 0; y < h; y++ {
		row := cur[y*stride : y*stride+w]
		hist.add(row)
		if prev != nil {
			sad += rowSAD(row, prev[y*stride:y*stride+w])
		}
		if y > 0 && y < h-1 && w > 2 {
			ls, lq := rowLaplacian(cur[(y-1)*stride:(y-1)*stride+w], row, cur[(y+1)*stride:(y+1)*stride+w])
			lapSum += ls
			lapSq += lq
		}
	}
	for v := range 256 {
		c := uint64(hist[0][v]) + uint64(hist[1][v]) + uint64(hist[2][v]) + uint64(hist[3][v])
		s.sum += c * uint64(v)
		s.sumSq += c * uint64(v*v)
		if v <= int(blackLevel) {
			s.dark += int(c)
		}
	}
	s.sad = sad
	if w > 2 && h > 2 {
		s.lapN = (w - 2) * (h - 2)
		s.lapSum, s.lapSq = lapSum, lapSq
	}
}

// Constants for arithmetic on four 16-bit lanes of a uint64.
const (
	lanes16 = 0x00FF00FF00FF00FF // the low byte of each lane
	bias16  = 0x0100010001000100 // 256 in each lane
	ones16  = 0x0001000100010001 // 1 in each lane
)

// rowSAD returns Σ |a[i] - b[i]|; len(b) >= len(a). It works on eight pixels at a time,
// spread over the 16-bit lanes of two words: per lane, 256 + x - y is in [1, 511] and
// its bit 8 says whether x >= y, which gives |x - y| without a branch.
func rowSAD(a, b []byte) uint64 {
	b = b[:len(a)]
	var total uint64
	for len(a) >= 8 && len(b) >= 8 {
		// Each lane grows by at most 510 per word: 128 words fit in 16 bits.
		var acc uint64
		for k := 0; k < 128 && len(a) >= 8 && len(b) >= 8; k++ {
			x, y := binary.LittleEndian.Uint64(a), binary.LittleEndian.Uint64(b)
			de := (x&lanes16 | bias16) - y&lanes16
			do := (x>>8&lanes16 | bias16) - y>>8&lanes16
			ne := (de>>8)&ones16 ^ ones16 // 1 in the lanes where x < y
			no := (do>>8)&ones16 ^ ones16
			acc += (de&lanes16 ^ ne*0xFF) + ne + (do&lanes16 ^ no*0xFF) + no
			a, b = a[8:], b[8:]
		}
		t := acc&0x0000FFFF0000FFFF + acc>>16&0x0000FFFF0000FFFF
		total += t&0xFFFFFFFF + t>>32
	}
	for i, p := range a {
		d := int(p) - int(b[i])
		m := d >> 63
		total += uint64((d ^ m) - m)
	}
	return total
}

// planeSAD returns Σ |a - b| over two planes of the same geometry.
func planeSAD(a, b []byte, w, h, stride int) uint64 {
	var s uint64
	for y := 0; y < h; y++ {
		s += rowSAD(a[y*stride:y*stride+w], b[y*stride:y*stride+w])
	}
	return s
}

// rowLaplacian returns Σ L and Σ L² over the interior pixels of row mid, where
// L = up + down + left + right - 4·centre. The three rows have the same length ≥ 3.
func rowLaplacian(up, mid, down []byte) (sum int64, sumSq uint64) {
	n := len(mid)
	u := up[1 : n-1]
	d := down[1 : n-1]
	c := mid[1 : n-1]
	r := mid[2:n]
	d, c, r = d[:len(u)], c[:len(u)], r[:len(u)]
	left := int(mid[0])
	var s, q0, q1 int
	i := 0
	for ; i+1 < len(u); i += 2 {
		c0, c1 := int(c[i]), int(c[i+1])
		l0 := int(u[i]) + int(d[i]) + left + c1 - 4*c0
		l1 := int(u[i+1]) + int(d[i+1]) + c0 + int(r[i+1]) - 4*c1
		left = c1
		s += l0 + l1
		q0 += l0 * l0
		q1 += l1 * l1
	}
	for ; i < len(u); i++ {
		c0 := int(c[i])
		l := int(u[i]) + int(d[i]) + left + int(r[i]) - 4*c0
		left = c0
		s += l
		q0 += l * l
	}
	return int64(s), uint64(q0 + q1)
}
