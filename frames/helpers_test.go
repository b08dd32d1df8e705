package frames

import (
	"strconv"
)

func fmtInt(i int64) string { return strconv.FormatInt(i, 10) }
