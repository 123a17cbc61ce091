package bufpool

import (
	"io"
	"strings"
	"testing"
)

func TestReaderReusedReadsItsNewSource(t *testing.T) {
	br := Reader(strings.NewReader("first"))
	if b, _ := io.ReadAll(br); string(b) != "first" {
		t.Fatalf("read %q", b)
	}
	PutReader(br)
	br = Reader(strings.NewReader("second"))
	if b, _ := io.ReadAll(br); string(b) != "second" {
		t.Fatalf("a reused reader read %q, want only its new source", b)
	}
	if br.Size() != Size {
		t.Fatalf("size %d", br.Size())
	}
	PutReader(br)
}

func TestBytesHaveFullSize(t *testing.T) {
	b := Bytes()
	*b = (*b)[:10]
	PutBytes(b)
	if b := Bytes(); len(*b) != Size {
		t.Fatalf("lent %d bytes, want %d", len(*b), Size)
	}
}

func TestAllocationsPerLoanAreFlat(t *testing.T) {
	src := strings.NewReader("x")
	n := testing.AllocsPerRun(100, func() {
		src.Reset("x")
		br := Reader(src)
		br.ReadByte()
		PutReader(br)
		b := Bytes()
		PutBytes(b)
	})
	if n > 1 {
		t.Fatalf("%.1f allocations per loan, want at most 1 (the pool, not a 64 KiB buffer)", n)
	}
}
