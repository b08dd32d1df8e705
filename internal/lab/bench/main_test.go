package bench

import (
	"testing"

	"github.com/svtool/sv/internal/lab"
)

func TestMain(m *testing.M) { lab.Main(m, lab.SV, lab.GorillaRecv) }
