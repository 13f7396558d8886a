package catalog

import (
	"bytes"
	"crypto"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"
)

// RepoData is one <data> entry of an RPM repomd.xml: a metadata file
// (Ref, relative to the repository root, the directory above repodata/)
// and, for compressed files, the checksum of their content (Open).
type RepoData struct {
	Type string
	Ref  Ref
	Open *Ref // nil if repomd.xml gives no open-checksum
}

type xmlChecksum struct {
	Type  string `xml:"type,attr"`
	Value string `xml:",chardata"`
}

type xmlLocation struct {
	Href  string     `xml:"href,attr"`
	Attrs []xml.Attr `xml:",any,attr"`
}

// base reports an xml:base attribute, which would move the file
// elsewhere (even to another host); Signet refuses it.
func (l xmlLocation) base() bool {
	for _, a := range l.Attrs {
		if a.Name.Local == "base" {
			return true
		}
	}
	return false
}

// rpmHash maps repodata checksum types to hashes. MD5 and SHA-1 are
// refused.
func rpmHash(t string) (crypto.Hash, error) {
	switch t {
	case "sha256":
		return crypto.SHA256, nil
	case "sha384":
		return crypto.SHA384, nil
	case "sha512":
		return crypto.SHA512, nil
	}
	return 0, fmt.Errorf("checksum type %.20q is not supported; use sha256 or sha512 (createrepo_c --checksum sha256)", t)
}

func (c xmlChecksum) ref(path string, size int64) (Ref, error) {
	h, err := rpmHash(c.Type)
	if err != nil {
		return Ref{}, err
	}
	sum, err := parseHex(strings.TrimSpace(c.Value), h)
	if err != nil {
		return Ref{}, err
	}
	return Ref{Path: path, Size: size, Hash: h, Sum: sum}, nil
}

// ParseRepomd parses repomd.xml and returns its data files.
func ParseRepomd(b []byte) ([]RepoData, error) {
	var doc struct {
		XMLName xml.Name `xml:"repomd"`
		Data    []struct {
			Type         string       `xml:"type,attr"`
			Checksum     *xmlChecksum `xml:"checksum"`
			OpenChecksum *xmlChecksum `xml:"open-checksum"`
			Location     *xmlLocation `xml:"location"`
			Size         *string      `xml:"size"`
		} `xml:"data"`
	}
	if err := strictXML(b, &doc); err != nil {
		return nil, fmt.Errorf("repomd.xml: %w", err)
	}
	if len(doc.Data) == 0 {
		return nil, errors.New("repomd.xml: no <data> entries")
	}
	out := make([]RepoData, 0, len(doc.Data))
	for i, d := range doc.Data {
		what := fmt.Sprintf("repomd.xml <data type=%.40q> (entry %d)", d.Type, i+1)
		if d.Type == "" || d.Checksum == nil || d.Location == nil || d.Size == nil {
			return nil, fmt.Errorf("%s: needs type, checksum, location and size", what)
		}
		if d.Location.base() {
			return nil, fmt.Errorf("%s: location has xml:base, which Signet does not follow", what)
		}
		if err := checkRel(d.Location.Href); err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		size, err := parseSize(strings.TrimSpace(*d.Size))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		ref, err := d.Checksum.ref(d.Location.Href, size)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		rd := RepoData{Type: d.Type, Ref: ref}
		if d.OpenChecksum != nil {
			open, err := d.OpenChecksum.ref(d.Location.Href, -1)
			if err != nil {
				return nil, fmt.Errorf("%s open-checksum: %w", what, err)
			}
			rd.Open = &open
		}
		out = append(out, rd)
	}
	return out, nil
}

// strictXML decodes one document; trailing non-whitespace is an error.
func strictXML(b []byte, v any) error {
	dec := xml.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(v); err != nil {
		return err
	}
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		switch t := tok.(type) {
		case xml.CharData:
			if len(bytes.TrimSpace(t)) != 0 {
				return errors.New("text after the document")
			}
		case xml.Comment, xml.ProcInst:
		default:
			return errors.New("data after the document")
		}
	}
}

// ParsePrimary parses an RPM primary.xml (uncompressed) from r and returns
// the packages it lists, with paths relative to the repository root.
func ParsePrimary(r io.Reader) ([]Ref, error) {
	dec := xml.NewDecoder(r)
	var refs []Ref
	sawRoot := false
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("primary.xml: %w", err)
		}
		se, ok := tok.(xml.StartElement)
		if !ok {
			continue
		}
		if !sawRoot {
			if se.Name.Local != "metadata" {
				return nil, fmt.Errorf("primary.xml: root element is <%.40s>, want <metadata>", se.Name.Local)
			}
			sawRoot = true
			continue
		}
		if se.Name.Local != "package" {
			if err := dec.Skip(); err != nil {
				return nil, fmt.Errorf("primary.xml: %w", err)
			}
			continue
		}
		var p struct {
			Name     string       `xml:"name"`
			Checksum *xmlChecksum `xml:"checksum"`
			Location *xmlLocation `xml:"location"`
			Size     *struct {
				Package string `xml:"package,attr"`
			} `xml:"size"`
		}
		if err := dec.DecodeElement(&p, &se); err != nil {
			return nil, fmt.Errorf("primary.xml package %d: %w", len(refs)+1, err)
		}
		what := fmt.Sprintf("primary.xml package %.80q (entry %d)", p.Name, len(refs)+1)
		if p.Checksum == nil || p.Location == nil || p.Size == nil {
			return nil, fmt.Errorf("%s: needs checksum, location and size", what)
		}
		if p.Location.base() {
			return nil, fmt.Errorf("%s: location has xml:base, which Signet does not follow", what)
		}
		if err := checkRel(p.Location.Href); err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		size, err := parseSize(p.Size.Package)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		ref, err := p.Checksum.ref(p.Location.Href, size)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		ref.Package = true
		refs = append(refs, ref)
	}
	if !sawRoot {
		return nil, errors.New("primary.xml: empty document")
	}
	return refs, nil
}
