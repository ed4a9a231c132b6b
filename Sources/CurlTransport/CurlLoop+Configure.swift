// Setting up an easy handle for one request: method and body, headers (curl's
// own Content-Type and Expect are suppressed: a header we did not sign must not
// be sent), timeouts, TLS, buffer sizes, and the C callbacks.
import CCurl
import ObjectStore
import HTTPSeam

extension CurlLoop {
    func configure(_ easy: UnsafeMutableRawPointer, for t: Transfer) {
        let r = t.request
        _ = CCurl_easy_setopt_string(easy, CURLOPT_URL, r.url)
        _ = CCurl_easy_setopt_long(easy, CURLOPT_NOSIGNAL, 1)
        _ = CCurl_easy_setopt_long(easy, CURLOPT_TCP_KEEPALIVE, 1)
        _ = CCurl_easy_setopt_long(easy, CURLOPT_CONNECTTIMEOUT_MS, Int(options.connectTimeout / .milliseconds(1)))
        _ = CCurl_easy_setopt_long(easy, CURLOPT_LOW_SPEED_LIMIT, 1)
        _ = CCurl_easy_setopt_long(easy, CURLOPT_LOW_SPEED_TIME, max(1, Int(options.lowSpeedTime / .seconds(1))))
        let bodySize = r.body?.count ?? 0
        _ = CCurl_easy_setopt_long(easy, CURLOPT_BUFFERSIZE, Self.receiveBufferSize(r, sink: t.sink))
        // 128 KiB send buffers for bodies over 1 MiB: each transfer in flight fills its own,
        // and at 1 MiB eight writers held 80 MiB more than total_mem_limit with no gain in
        // throughput (write.sh, HTTP and TLS). Smaller bodies keep curl's 64 KiB, which comes
        // from the heap and stays with the reused handle (a 128 KiB one is an mmap and a
        // munmap per request: see receiveBufferSize).
        if bodySize > 1 << 20 { _ = CCurl_easy_setopt_long(easy, CURLOPT_UPLOAD_BUFFERSIZE, 128 * 1024) }
        if let ca = options.caBundle { _ = CCurl_easy_setopt_string(easy, CURLOPT_CAINFO, ca) }
        if options.insecure {
            _ = CCurl_easy_setopt_long(easy, CURLOPT_SSL_VERIFYPEER, 0)
            _ = CCurl_easy_setopt_long(easy, CURLOPT_SSL_VERIFYHOST, 0)
        }
        _ = CCurl_easy_setopt_pointer(easy, CURLOPT_ERRORBUFFER, t.errorBuffer)

        switch r.method {
        case "GET": _ = CCurl_easy_setopt_long(easy, CURLOPT_HTTPGET, 1)
        case "HEAD": _ = CCurl_easy_setopt_long(easy, CURLOPT_NOBODY, 1)
        case "PUT":
            _ = CCurl_easy_setopt_long(easy, CURLOPT_UPLOAD, 1)
            _ = CCurl_easy_setopt_off_t(easy, CURLOPT_INFILESIZE_LARGE, curl_off_t(bodySize))
        case "POST":
            _ = CCurl_easy_setopt_long(easy, CURLOPT_POST, 1)
            _ = CCurl_easy_setopt_off_t(easy, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(bodySize))
        default:
            _ = CCurl_easy_setopt_string(easy, CURLOPT_CUSTOMREQUEST, r.method)
        }

        var list: UnsafeMutablePointer<curl_slist>?
        for f in r.headers { list = curl_slist_append(list, "\(f.name): \(f.value)") }
        if r.headers["Content-Type"] == nil { list = curl_slist_append(list, "Content-Type:") }
        list = curl_slist_append(list, "Expect:")
        if let old = t.headerList { curl_slist_free_all(old) }
        t.headerList = list
        _ = CCurl_easy_setopt_slist(easy, CURLOPT_HTTPHEADER, list)

        // Safety: the Transfer stays alive while its handle is in `active` (the loop holds it),
        // and curl calls these callbacks only between add_handle and remove_handle.
        let context = Unmanaged.passUnretained(t).toOpaque()
        _ = CCurl_easy_setopt_pointer(easy, CURLOPT_HEADERDATA, context)
        _ = CCurl_easy_setopt_data_callback(easy, CURLOPT_HEADERFUNCTION, curlHeaderCallback)
        _ = CCurl_easy_setopt_pointer(easy, CURLOPT_WRITEDATA, context)
        _ = CCurl_easy_setopt_data_callback(easy, CURLOPT_WRITEFUNCTION, curlWriteCallback)
        if r.body != nil {
            _ = CCurl_easy_setopt_pointer(easy, CURLOPT_READDATA, context)
            _ = CCurl_easy_setopt_data_callback(easy, CURLOPT_READFUNCTION, curlReadCallback)
        }
    }
}

extension CurlLoop {
    /// curl's receive buffer for `r` answered into `sink`. curl allocates it when a transfer
    /// starts and frees it when it ends, and malloc gives blocks of 128 KiB or more straight
    /// back to the kernel (CLibc_return_large_blocks): a 512 KiB buffer costs an mmap, page
    /// faults and a munmap with a TLB shootdown per request, a tenth of the daemon's CPU
    /// when reading small files. So 512 KiB, fewer callbacks per MiB, only for a GET whose
    /// sink expects more than 1 MiB (a prefetch chunk, a long range), and 64 KiB (from the
    /// heap) for everything else: other methods, listings, small reads.
    static func receiveBufferSize(_ r: HTTPRequest, sink: HTTPResponseSink) -> Int {
        r.method == "GET" && (sink.expectedBodySize ?? 0) > 1 << 20 ? 512 * 1024 : 64 * 1024
    }
}

private func transfer(_ userdata: UnsafeMutableRawPointer?) -> Transfer {
    // Safety: every callback is registered with an unretained Transfer pointer that the loop
    // keeps alive for the duration of the transfer (see configure).
    Unmanaged<Transfer>.fromOpaque(userdata!).takeUnretainedValue()
}

private let curlHeaderCallback: CCurl_data_callback = { ptr, size, count, userdata in
    let t = transfer(userdata)
    let n = size * count
    // Safety: curl passes `n` readable bytes at `ptr`.
    t.headerLine(UnsafeRawBufferPointer(start: ptr, count: n))
    return n
}

private let curlWriteCallback: CCurl_data_callback = { ptr, size, count, userdata in
    let t = transfer(userdata)
    let n = size * count
    if t.cancelled.load(ordering: .relaxed) { return 0 }
    t.deliverHead()
    // Safety: curl passes `n` readable bytes at `ptr`, valid for this call only; the sink copies.
    if !t.sink.receiveBody(UnsafeRawBufferPointer(start: ptr, count: n)) {
        t.sinkRefused = true
        return 0
    }
    return n
}

private let curlReadCallback: CCurl_data_callback = { ptr, size, count, userdata in
    let t = transfer(userdata)
    if t.cancelled.load(ordering: .relaxed) { return Int(CURL_READFUNC_ABORT) }
    guard let body = t.request.body, let ptr else { return 0 }
    let room = size * count
    return body.withUnsafeBytes { src in
        let n = min(room, src.count - t.uploadOffset)
        guard n > 0 else { return 0 }
        // Safety: curl provides `room` writable bytes at `ptr`; we copy n <= room bytes from
        // inside `src` starting at uploadOffset < src.count.
        UnsafeMutableRawPointer(ptr).copyMemory(from: src.baseAddress! + t.uploadOffset, byteCount: n)
        t.uploadOffset += n
        return n
    }
}
