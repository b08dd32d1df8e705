package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestSessionOrder(t *testing.T) {
	tests := []struct {
		name    string
		arrive  []int // sequence numbers in arrival order; chunk n holds the byte 'a'+n
		done    int   // chunk count the page reports
		want    string
		wantErr string
	}{
		{name: "in order", arrive: []int{0, 1, 2}, done: 3, want: "abc"},
		{name: "reordered", arrive: []int{1, 0, 3, 2}, done: 4, want: "abcd"},
		{name: "gap", arrive: []int{0, 2}, done: 3, wantErr: "missing: 1"},
		{name: "lost tail", arrive: []int{0, 1}, done: 3, wantErr: "missing: 2"},
		{name: "duplicate", arrive: []int{0, 0}, done: 1, wantErr: "received twice"},
		{name: "nothing", done: 0, wantErr: "no chunks"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			s := newSession(&out, Options{})
			var err error
			for _, seq := range tt.arrive {
				if err = s.add(seq, 0, []byte{byte('a' + seq)}); err != nil {
					break
				}
			}
			if err == nil {
				err = s.complete(tt.done, "", 0)
			}
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := out.String(); got != tt.want {
				t.Errorf("wrote %q, want %q", got, tt.want)
			}
		})
	}
}

func TestChunkKind(t *testing.T) {
	tests := []struct {
		name       string
		prev, head []byte
		want       string
	}{
		{"ebml", nil, []byte{0x1a, 0x45, 0xdf, 0xa3, 0x9f}, "the EBML header"},
		{"ftyp", nil, []byte("\x00\x00\x00\x24ftypisom"), "the ftyp box"},
		{"moof", []byte("x"), []byte("\x00\x00\x01\x84moof"), "a moof box"},
		{"cluster", []byte("x"), []byte{0x1f, 0x43, 0xb6, 0x75, 0x01}, "a Cluster"},
		{"split cluster", []byte{0x00, 0x1f}, []byte{0x43, 0xb6, 0x75, 0x01}, "a Cluster split inside its ID"},
		{"simpleblock size", []byte{0x00, 0xa3}, []byte{0x43, 0x72, 0x81}, "the size field of a SimpleBlock whose ID ends the previous chunk"},
		{"unknown", []byte{0x00}, []byte{0x12, 0x34}, "the middle of an element"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := chunkKind(tt.prev, tt.head, len(tt.head)); got != tt.want {
				t.Errorf("chunkKind = %q, want %q", got, tt.want)
			}
		})
	}
}
