// The Go peer of the benchmark designs: net/http and a semaphore.
//
//	go-bench -w N -i urls.txt [-proto http|tls|h2]
//
// One http.Client with a Transport tuned for the run: up to N idle
// connections kept per host, a TLS session cache, no compression asked
// for (the C designs ask for none either), a 60 s timeout per request.
// Trust is Go's own: the system roots, which SSL_CERT_FILE replaces with a
// bundle of the caller's. -proto h2 lets the standard library speak HTTP/2
// when the server offers it by ALPN; tls forces HTTP/1.1 (an empty
// TLSNextProto); http is plain HTTP/1.1 (h2 is never used without TLS).
//
// A goroutine per URL, at most N at once (a semaphore), each storing its
// result at the URL's index. Prints "ok=K total=N bytes=B" as the C
// designs do (bench/common.c), failures by kind on stderr, and exits 0 iff
// every URL got a 2xx with its whole body. Standard library only: build
// with `GO111MODULE=off go build -o go-bench main.go` (bench/run does).
package main

import (
	"bufio"
	"crypto/tls"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sort"
	"strings"
	"sync"
	"time"
)

type result struct {
	status int
	bytes  int64
	err    string
}

func readURLs(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var urls []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		if u := strings.TrimSpace(sc.Text()); u != "" {
			urls = append(urls, u)
		}
	}
	return urls, sc.Err()
}

func newClient(n int, proto string) *http.Client {
	tr := &http.Transport{
		Proxy: nil, // loopback only: no proxy from the environment
		DialContext: (&net.Dialer{
			Timeout:   30 * time.Second,
			KeepAlive: 30 * time.Second,
		}).DialContext,
		MaxIdleConns:        0, // no limit over all hosts
		MaxIdleConnsPerHost: n,
		IdleConnTimeout:     90 * time.Second,
		TLSHandshakeTimeout: 30 * time.Second,
		DisableCompression:  true,
		TLSClientConfig: &tls.Config{
			ClientSessionCache: tls.NewLRUClientSessionCache(n),
		},
		// A Transport with its own TLSClientConfig or DialContext speaks
		// HTTP/2 only when asked to.
		ForceAttemptHTTP2: proto == "h2",
	}
	if proto != "h2" {
		// A non-nil empty map turns HTTP/2 off.
		tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
	}
	return &http.Client{Transport: tr, Timeout: 60 * time.Second}
}

func fetch(c *http.Client, url string) result {
	resp, err := c.Get(url)
	if err != nil {
		return result{err: err.Error()}
	}
	n, err := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	r := result{status: resp.StatusCode, bytes: n}
	if err != nil {
		r.err = "body: " + err.Error()
	} else if resp.StatusCode < 200 || resp.StatusCode > 299 {
		r.err = fmt.Sprintf("http %d", resp.StatusCode)
	}
	return r
}

// kind shortens an error to what it has in common with others of its
// kind: the URL (distinct by index) is cut out.
func kind(e string, url string) string {
	e = strings.ReplaceAll(e, "\""+url+"\"", "URL")
	e = strings.ReplaceAll(e, url, "URL")
	if len(e) > 120 {
		e = e[:120]
	}
	return e
}

func main() {
	n := flag.Int("w", 50, "requests at once (goroutines)")
	flag.IntVar(n, "j", 50, "same as -w")
	input := flag.String("i", "", "URL list, one a line")
	proto := flag.String("proto", "http",
		"http, tls (HTTP/1.1 only) or h2 (HTTP/2 when offered by ALPN)")
	flag.Parse()
	if *input == "" || *n < 1 || flag.NArg() != 0 ||
		(*proto != "http" && *proto != "tls" && *proto != "h2") {
		flag.Usage()
		os.Exit(2)
	}
	urls, err := readURLs(*input)
	if err != nil || len(urls) == 0 {
		fmt.Fprintf(os.Stderr, "cannot read URLs from %s: %v\n", *input, err)
		os.Exit(2)
	}

	client := newClient(*n, *proto)
	results := make([]result, len(urls))
	sem := make(chan struct{}, *n)
	var wg sync.WaitGroup
	for i := range urls {
		sem <- struct{}{}
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			results[i] = fetch(client, urls[i])
			<-sem
		}(i)
	}
	wg.Wait()

	ok, bytes := 0, int64(0)
	kinds := map[string]int{}
	first := map[string]int{}
	for i, r := range results {
		bytes += r.bytes
		if r.err == "" {
			ok++
			continue
		}
		k := kind(r.err, urls[i])
		if kinds[k] == 0 {
			first[k] = i
		}
		kinds[k]++
	}
	fmt.Printf("ok=%d total=%d bytes=%d\n", ok, len(urls), bytes)
	os.Stdout.Sync()
	keys := make([]string, 0, len(kinds))
	for k := range kinds {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(a, b int) bool { return kinds[keys[a]] > kinds[keys[b]] })
	for j, k := range keys {
		if j == 8 {
			fmt.Fprintf(os.Stderr, "failed: %d kinds more\n", len(keys)-j)
			break
		}
		fmt.Fprintf(os.Stderr, "failed: %d x %s, first index %d\n",
			kinds[k], k, first[k])
	}
	if ok != len(urls) {
		os.Exit(1)
	}
}
