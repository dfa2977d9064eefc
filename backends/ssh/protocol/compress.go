package protocol

import (
	"bytes"
	"compress/zlib"
	"fmt"
	"io"
	"sync"

	"github.com/klauspost/compress/zstd"
)

// CompressedOp marks a frame whose payload is compressed (--compression):
// the op byte with its high bit set.
const CompressedOp = 0x80

// minCompress is the smallest payload worth compressing.
const minCompress = 512

// MaxPayload bounds a decompressed payload, as MaxFrame bounds a frame.
const MaxPayload = MaxFrame

// Codec compresses frame payloads with one algorithm. It is safe for
// concurrent use.
type Codec interface {
	compress(dst, src []byte) []byte
	decompress(src []byte) ([]byte, error)
}

// NewCodec returns the codec of an algorithm name: "zstd", "zlib", or
// "none"/"" (nil: no compression).
func NewCodec(name string) (Codec, error) {
	switch name {
	case "", "none":
		return nil, nil
	case "zstd":
		enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(1))
		if err != nil {
			return nil, err
		}
		dec, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(0), zstd.WithDecoderMaxMemory(MaxPayload))
		if err != nil {
			return nil, err
		}
		return &zstdCodec{enc: enc, dec: dec}, nil
	case "zlib":
		return &zlibCodec{}, nil
	}
	return nil, fmt.Errorf("unknown compression %q (want none, zlib or zstd)", name)
}

type zstdCodec struct {
	enc *zstd.Encoder
	dec *zstd.Decoder
}

func (z *zstdCodec) compress(dst, src []byte) []byte { return z.enc.EncodeAll(src, dst) }

func (z *zstdCodec) decompress(src []byte) ([]byte, error) { return z.dec.DecodeAll(src, nil) }

type zlibCodec struct{ writers sync.Pool }

func (z *zlibCodec) compress(dst, src []byte) []byte {
	buf := bytes.NewBuffer(dst)
	w, _ := z.writers.Get().(*zlib.Writer)
	if w == nil {
		w, _ = zlib.NewWriterLevel(buf, zlib.BestSpeed)
	} else {
		w.Reset(buf)
	}
	w.Write(src)
	w.Close()
	z.writers.Put(w)
	return buf.Bytes()
}

func (z *zlibCodec) decompress(src []byte) ([]byte, error) {
	r, err := zlib.NewReader(bytes.NewReader(src))
	if err != nil {
		return nil, err
	}
	defer r.Close()
	out, err := io.ReadAll(io.LimitReader(r, MaxPayload+1))
	if err != nil {
		return nil, err
	}
	if len(out) > MaxPayload {
		return nil, fmt.Errorf("decompressed payload over %d bytes", MaxPayload)
	}
	return out, nil
}
