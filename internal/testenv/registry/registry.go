// Package registry runs a real OCI registry for tests: Debian's
// docker-registry (CNCF distribution), started on a random loopback port
// with a configuration the test writes (storage in a temporary directory,
// plain HTTP, deletes enabled, optional htpasswd basic auth), and stopped
// when the test ends. Tests push images to it with go-containerregistry
// and sign and verify against it exactly as against a production
// registry; nothing is faked.
//
// The registry binary is /usr/bin/docker-registry from the Debian package
// docker-registry (scripts/test installs it). A missing binary fails the
// test with the command to install it: it is never skipped.
//
// Distribution 2.8 does not serve the OCI 1.1 referrers API, so clients
// that support it fall back to the referrers tag schema there, as they do
// on many production registries.
package registry

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"golang.org/x/crypto/bcrypt"
)

// Binary is the registry program Debian's docker-registry package installs.
const Binary = "docker-registry"

// Options describe the registry to start.
type Options struct {
	// User and Password, if set, protect the registry with htpasswd
	// basic auth: every request needs them.
	User, Password string
}

// Registry is a running registry.
type Registry struct {
	// Host is "127.0.0.1:PORT", the registry part of image references.
	Host string
	// Dir holds the registry's storage, configuration and log.
	Dir  string
	opts Options
}

// Start starts a registry that stops when tb ends.
func Start(tb testing.TB, o Options) *Registry {
	tb.Helper()
	r, stop, err := Run(tb.TempDir(), o)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(stop)
	return r
}

// Run starts a registry keeping its files in dir, for callers without a
// testing.TB (CLI transcripts); stop stops it.
func Run(dir string, o Options) (r *Registry, stop func(), err error) {
	bin, err := exec.LookPath(Binary)
	if err != nil {
		return nil, nil, fmt.Errorf("the registry tests need %s: install it with 'apt-get install docker-registry' (scripts/test does): %w", Binary, err)
	}
	// A port picked free can be taken before the registry binds it;
	// try a few.
	for range 3 {
		if r, stop, err = start(bin, dir, o); err == nil {
			return r, stop, nil
		}
	}
	return nil, nil, fmt.Errorf("starting %s: %w", Binary, err)
}

func start(bin, dir string, o Options) (*Registry, func(), error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, nil, err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, nil, err
	}
	host := l.Addr().String()
	l.Close()
	var auth string
	if o.User != "" {
		hash, err := bcrypt.GenerateFromPassword([]byte(o.Password), bcrypt.MinCost)
		if err != nil {
			return nil, nil, err
		}
		htpasswd := filepath.Join(dir, "htpasswd")
		if err := os.WriteFile(htpasswd, fmt.Appendf(nil, "%s:%s\n", o.User, hash), 0o600); err != nil {
			return nil, nil, err
		}
		auth = fmt.Sprintf("auth:\n  htpasswd:\n    realm: signet-test\n    path: %s\n", htpasswd)
	}
	config := fmt.Sprintf(`version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: %s
  delete:
    enabled: true
http:
  addr: %s
%s`, filepath.Join(dir, "storage"), host, auth)
	cfgPath := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(cfgPath, []byte(config), 0o600); err != nil {
		return nil, nil, err
	}
	logPath := filepath.Join(dir, "registry.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, nil, err
	}
	defer logFile.Close()
	cmd := exec.Command(bin, "serve", cfgPath)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		return nil, nil, err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stop := func() {
		cmd.Process.Kill()
		<-exited
	}
	// Ready when /v2/ answers (200, or 401 with auth on).
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := http.Get("http://" + host + "/v2/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusUnauthorized {
				break
			}
		}
		select {
		case err := <-exited:
			exited <- err
			stop()
			log, _ := os.ReadFile(logPath)
			return nil, nil, fmt.Errorf("registry exited (%v): %s", err, bytes.TrimSpace(log))
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			stop()
			log, _ := os.ReadFile(logPath)
			return nil, nil, fmt.Errorf("registry on %s did not answer within 15s: %s", host, bytes.TrimSpace(log))
		}
	}
	return &Registry{Host: host, Dir: dir, opts: o}, stop, nil
}

// Auth is the registry's authenticator: its basic credentials, or
// anonymous.
func (r *Registry) Auth() authn.Authenticator {
	if r.opts.User == "" {
		return authn.Anonymous
	}
	return &authn.Basic{Username: r.opts.User, Password: r.opts.Password}
}

// Ref parses "REPO:TAG" or "REPO@DIGEST" in this registry, as plain HTTP.
func (r *Registry) Ref(tb testing.TB, s string) name.Reference {
	tb.Helper()
	ref, err := name.ParseReference(r.Host+"/"+s, name.Insecure)
	if err != nil {
		tb.Fatal(err)
	}
	return ref
}

// PushRandom pushes a random image (two layers) to repo:tag and returns
// its reference by digest.
func (r *Registry) PushRandom(tb testing.TB, repoTag string) name.Digest {
	tb.Helper()
	d, err := r.Push(repoTag)
	if err != nil {
		tb.Fatal(err)
	}
	return d
}

// Push is PushRandom for callers without a testing.TB.
func (r *Registry) Push(repoTag string) (name.Digest, error) {
	img, err := random.Image(512, 2)
	if err != nil {
		return name.Digest{}, err
	}
	ref, err := name.ParseReference(r.Host+"/"+repoTag, name.Insecure)
	if err != nil {
		return name.Digest{}, err
	}
	if err := remote.Write(ref, img, remote.WithAuth(r.Auth()), remote.WithContext(context.Background())); err != nil {
		return name.Digest{}, fmt.Errorf("pushing %s: %w", ref, err)
	}
	d, err := img.Digest()
	if err != nil {
		return name.Digest{}, err
	}
	return ref.Context().Digest(d.String()), nil
}

// Manifest fetches the manifest at ref.
func (r *Registry) Manifest(tb testing.TB, ref name.Reference) *v1.Manifest {
	tb.Helper()
	desc, err := remote.Get(ref, remote.WithAuth(r.Auth()))
	if err != nil {
		tb.Fatalf("fetching %s: %v", ref, err)
	}
	m, err := v1.ParseManifest(bytes.NewReader(desc.Manifest))
	if err != nil {
		tb.Fatalf("%s: %v", ref, err)
	}
	return m
}

// Tags lists the tags of repo.
func (r *Registry) Tags(tb testing.TB, repo string) []string {
	tb.Helper()
	tags, err := remote.List(r.Ref(tb, repo+":x").Context(), remote.WithAuth(r.Auth()))
	if err != nil && !strings.Contains(err.Error(), "NAME_UNKNOWN") {
		tb.Fatalf("listing tags of %s: %v", repo, err)
	}
	return tags
}
