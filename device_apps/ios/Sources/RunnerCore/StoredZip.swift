import Foundation

/// Unpacks the harness's stored (uncompressed) zip of an .mlpackage directory (models.coreml.stored_zip):
/// local file headers followed by the raw bytes; anything compressed is refused.
public enum StoredZip {
    /// Extract `zip` to `<caches>/<zip name without .zip>` (an .mlpackage) once; its URL.
    public static func extract(_ zip: URL) throws -> URL {
        let caches = FileManager.default.urls(for: .cachesDirectory, in: .userDomainMask)[0]
        let target = caches.appendingPathComponent(zip.deletingPathExtension().lastPathComponent)
        if FileManager.default.fileExists(atPath: target.path) { return target }
        let staging = target.appendingPathExtension("partial")
        try? FileManager.default.removeItem(at: staging)
        try unpack(try Data(contentsOf: zip), into: staging)
        try FileManager.default.moveItem(at: staging, to: target)
        return target
    }

    static func unpack(_ data: Data, into root: URL) throws {
        func u16(_ at: Int) -> Int { Int(data[data.startIndex + at]) | Int(data[data.startIndex + at + 1]) << 8 }
        func u32(_ at: Int) -> Int { u16(at) | u16(at + 2) << 16 }
        var offset = 0
        while offset + 30 <= data.count, u32(offset) == 0x0403_4B50 {
            let method = u16(offset + 8), size = u32(offset + 18), nameLength = u16(offset + 26)
            let extra = u16(offset + 28)
            guard method == 0 else { throw JobFailed("model_load", "the package zip is compressed (method \(method))") }
            let nameStart = data.startIndex + offset + 30
            let name = String(decoding: data[nameStart..<nameStart + nameLength], as: UTF8.self)
            guard !name.hasPrefix("/"), !name.split(separator: "/").contains("..") else {
                throw JobFailed("model_load", "the package zip names a path outside it: \(name)")
            }
            let bodyStart = nameStart + nameLength + extra
            let file = root.appendingPathComponent(name)
            try FileManager.default.createDirectory(at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
            try data[bodyStart..<bodyStart + size].write(to: file)
            offset = bodyStart - data.startIndex + size
        }
    }
}
