package e2e

import (
	"testing"

	"github.com/svtool/sv/internal/lab"
)

func TestMain(m *testing.M) { lab.Main(m, lab.SV) }
