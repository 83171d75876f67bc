package printer

import (
	"fmt"
	"testing"
)

// BenchmarkSlipWire measures encoding a QR slip and reports what matters on
// a serial printer: bytes on the wire, native QR (GS ( k) against raster
// (GS v 0), and how long they take to send at 9600 and 115200 baud (8N1: 10
// bits per byte). The DLE EOT status request adds 12 bytes per job.
func BenchmarkSlipWire(b *testing.B) {
	for _, paper := range []int{58, 80} {
		for _, native := range []bool{true, false} {
			mode := "raster"
			if native {
				mode = "native"
			}
			b.Run(fmt.Sprintf("%dmm/%s", paper, mode), func(b *testing.B) {
				l, err := NewLayout(Config{PaperMM: paper, NativeQR: native})
				if err != nil {
					b.Fatal(err)
				}
				n := 0
				for b.Loop() {
					data, err := l.Slip(slip)
					if err != nil {
						b.Fatal(err)
					}
					n = len(data)
				}
				b.ReportMetric(float64(n), "bytes/slip")
				b.ReportMetric(float64(n*10)/9600*1000, "ms@9600baud")
				b.ReportMetric(float64(n*10)/115200*1000, "ms@115200baud")
			})
		}
	}
}
