// Package capped reads a body or a file whole, but no more than a limit, into
// one buffer: the HTTP front door, the NanoGPT client and the tools' file
// reads all need it, and io.ReadAll would grow its buffer by doubling.
package capped

import (
	"errors"
	"io"
)

// Read reads r to its end, but no more than limit bytes: beyond that it
// returns what it read and ErrTooLarge. size is the length announced (-1 when
// unknown): the buffer is then allocated once at that size, since io.ReadAll's
// doubling would leave up to as much again of a large body (base64 images,
// audio) behind as garbage.
func Read(r io.Reader, size, limit int64) ([]byte, error) {
	if size < 0 || size > limit {
		size = 512
	}
	data := make([]byte, 0, size+1) // +1: reaching EOF needs room for one more read
	for {
		if len(data) == cap(data) {
			data = append(data, 0)[:len(data)] // it grew since it was announced
		}
		n, err := r.Read(data[len(data):min(cap(data), int(limit)+1)])
		data = data[:len(data)+n]
		if int64(len(data)) > limit {
			return data[:limit], ErrTooLarge
		}
		if err == io.EOF {
			return data, nil
		}
		if err != nil {
			return data, err
		}
	}
}

// ErrTooLarge reports a body over its cap.
var ErrTooLarge = errors.New("body too large")
