// Package authenticodetest makes Windows PE files for tests, so that no
// binary is ever committed: MinimalPE writes a small hand-made image
// byte by byte, and WindowsExe builds a real one with the Go toolchain.
// Verify runs the real verifier, osslsigncode.
package authenticodetest

import (
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// MinimalPE returns a valid PE32 (or, with pe32plus, PE32+) console
// executable of one .text section holding code, padded to 512 bytes,
// followed by overlay (data after the last section, which changes the
// file's alignment). Its layout:
//
//	0x000  DOS header, e_lfanew = 0x40
//	0x040  "PE\0\0", COFF header, optional header (16 data directories)
//	       section table (.text)
//	0x200  .text raw data
//	       overlay
func MinimalPE(pe32plus bool, code, overlay []byte) []byte {
	const fileAlign, sectAlign, headers = 0x200, 0x1000, 0x200
	raw := (len(code) + fileAlign - 1) / fileAlign * fileAlign
	if raw == 0 {
		raw = fileAlign
	}
	b := make([]byte, headers+raw, headers+raw+len(overlay))
	le := binary.LittleEndian
	copy(b, "MZ")
	le.PutUint32(b[0x3c:], 0x40)
	p := b[0x40:]
	copy(p, "PE\x00\x00")
	coff := p[4:]
	optSize := 96 + 16*8
	machine, characteristics := uint16(0x14c), uint16(0x0102) // i386; executable, 32-bit
	if pe32plus {
		optSize = 112 + 16*8
		machine, characteristics = 0x8664, 0x0022 // amd64; executable, large address aware
	}
	le.PutUint16(coff[0:], machine)
	le.PutUint16(coff[2:], 1) // sections
	le.PutUint16(coff[16:], uint16(optSize))
	le.PutUint16(coff[18:], characteristics)
	opt := coff[20:]
	sizeOfImage := uint32(sectAlign + (raw+sectAlign-1)/sectAlign*sectAlign)
	if pe32plus {
		le.PutUint16(opt[0:], 0x20b)
		le.PutUint64(opt[24:], 0x140000000) // ImageBase
	} else {
		le.PutUint16(opt[0:], 0x10b)
		le.PutUint32(opt[24:], sectAlign)  // BaseOfData
		le.PutUint32(opt[28:], 0x00400000) // ImageBase
	}
	opt[2] = 14                         // linker version
	le.PutUint32(opt[4:], uint32(raw))  // SizeOfCode
	le.PutUint32(opt[16:], sectAlign)   // AddressOfEntryPoint
	le.PutUint32(opt[20:], sectAlign)   // BaseOfCode
	le.PutUint32(opt[32:], sectAlign)   // SectionAlignment
	le.PutUint32(opt[36:], fileAlign)   // FileAlignment
	le.PutUint16(opt[40:], 6)           // OS version
	le.PutUint16(opt[48:], 6)           // subsystem version
	le.PutUint32(opt[56:], sizeOfImage) // SizeOfImage
	le.PutUint32(opt[60:], headers)     // SizeOfHeaders
	le.PutUint16(opt[68:], 3)           // Subsystem: console
	le.PutUint16(opt[70:], 0x8140)      // DllCharacteristics: dynamic base, NX, terminal server aware
	if pe32plus {
		le.PutUint64(opt[72:], 0x100000) // stack reserve
		le.PutUint64(opt[80:], 0x1000)   // stack commit
		le.PutUint64(opt[88:], 0x100000) // heap reserve
		le.PutUint64(opt[96:], 0x1000)   // heap commit
		le.PutUint32(opt[108:], 16)      // NumberOfRvaAndSizes
	} else {
		le.PutUint32(opt[72:], 0x100000)
		le.PutUint32(opt[76:], 0x1000)
		le.PutUint32(opt[80:], 0x100000)
		le.PutUint32(opt[84:], 0x1000)
		le.PutUint32(opt[92:], 16)
	}
	sec := opt[optSize:]
	copy(sec, ".text")
	le.PutUint32(sec[8:], uint32(max(len(code), 1))) // VirtualSize
	le.PutUint32(sec[12:], sectAlign)                // VirtualAddress
	le.PutUint32(sec[16:], uint32(raw))              // SizeOfRawData
	le.PutUint32(sec[20:], headers)                  // PointerToRawData
	le.PutUint32(sec[36:], 0x60000020)               // code, execute, read
	copy(b[headers:], code)
	if len(code) == 0 {
		b[headers] = 0xc3 // ret
	}
	return append(b, overlay...)
}

// hello is the program WindowsExe builds.
const hello = `package main

func main() { println("hello from a Signet test") }
`

// WindowsExe builds a small Windows amd64 console program with the Go
// toolchain (GOOS=windows) into dir and returns its path. The first build
// compiles the runtime for Windows, which takes seconds; later ones come
// from the build cache.
func WindowsExe(dir string) (string, error) {
	src := filepath.Join(dir, "hello.go")
	if err := os.WriteFile(src, []byte(hello), 0o644); err != nil {
		return "", err
	}
	out := filepath.Join(dir, "hello.exe")
	gobin, err := exec.LookPath("go")
	if err != nil {
		return "", fmt.Errorf("building a Windows test program needs the go command on PATH: %w", err)
	}
	cmd := exec.Command(gobin, "build", "-trimpath", "-ldflags=-s -w", "-o", out, src)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOOS=windows", "GOARCH=amd64", "CGO_ENABLED=0", "GOFLAGS=", "GO111MODULE=on", "GOWORK=off")
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("GOOS=windows go build: %v\n%s", err, b)
	}
	return out, nil
}

// Verify runs 'osslsigncode verify -CAfile caFile -in file' and returns
// its output, and an error unless it says the signature verified.
func Verify(caFile, file string) (string, error) {
	if _, err := exec.LookPath("osslsigncode"); err != nil {
		return "", fmt.Errorf("osslsigncode is required; run ./scripts/test, which installs it: %w", err)
	}
	b, err := exec.Command("osslsigncode", "verify", "-CAfile", caFile, "-in", file).CombinedOutput()
	out := string(b)
	if err == nil && !strings.Contains(out, "Signature verification: ok") {
		err = fmt.Errorf("osslsigncode exited 0 without 'Signature verification: ok'")
	}
	return out, err
}
