// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Prints the messages of one topic as JSON lines, for tests that have no Kafka client of their
 * own (the console consumer cannot frame binary values such as the flow batches):
 *
 *   {"partition":0,"offset":0,"timestamp":1700000000000,"key":null,"value":"<base64>",
 *    "headers":[["name","<base64>"]]}
 *
 * Every partition is read from its start, by assignment: no consumer group, nothing committed,
 * so reading never changes what the next reader sees. Without MAX it reads up to the end
 * offsets as they are when it starts; with MAX it waits for MAX messages in all. Exits 0 when
 * done, 3 when TIMEOUT_MS passes first (what was read is printed all the same), 2 on bad usage.
 *
 *   java -cp 'build/kafka/libs/*' tests/kafka/TopicDump.java BOOTSTRAP TOPIC [MAX [TIMEOUT_MS]]
 */

import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.Properties;

import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;

public class TopicDump {
    public static void main(String[] args) throws Exception {
        if (args.length < 2 || args.length > 4) {
            System.err.println("usage: TopicDump BOOTSTRAP TOPIC [MAX [TIMEOUT_MS]]");
            System.exit(2);
        }
        String bootstrap = args[0], topic = args[1];
        long max = args.length > 2 ? Long.parseLong(args[2]) : 0;
        long timeoutMs = args.length > 3 ? Long.parseLong(args[3]) : 30000;
        long deadline = System.currentTimeMillis() + timeoutMs;

        Properties props = new Properties();
        props.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        props.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class);
        props.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG,
                  ByteArrayDeserializer.class);
        props.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false);
        /* reading must not create the topic the test expects someone else to create */
        props.put(ConsumerConfig.ALLOW_AUTO_CREATE_TOPICS_CONFIG, false);
        props.put(ConsumerConfig.MAX_PARTITION_FETCH_BYTES_CONFIG, 32 << 20);
        props.put(ConsumerConfig.FETCH_MAX_BYTES_CONFIG, 64 << 20);

        int rc = 0;
        StringBuilder out = new StringBuilder();
        try (KafkaConsumer<byte[], byte[]> consumer = new KafkaConsumer<>(props)) {
            List<TopicPartition> parts = new ArrayList<>();
            /* the topic may not exist yet when MAX says to wait for messages */
            while (parts.isEmpty()) {
                List<PartitionInfo> infos =
                    consumer.partitionsFor(topic, Duration.ofSeconds(5));
                if (infos != null)
                    for (PartitionInfo p : infos)
                        parts.add(new TopicPartition(topic, p.partition()));
                if (parts.isEmpty()) {
                    if (System.currentTimeMillis() >= deadline) {
                        System.err.println("TopicDump: no topic " + topic);
                        System.exit(3);
                    }
                    Thread.sleep(200);
                }
            }
            consumer.assign(parts);
            consumer.seekToBeginning(parts);
            Map<TopicPartition, Long> end = max > 0 ? null : consumer.endOffsets(parts);

            long seen = 0;
            while (true) {
                if (max > 0 ? seen >= max : reachedEnd(consumer, end))
                    break;
                if (System.currentTimeMillis() >= deadline) {
                    System.err.println("TopicDump: timed out after " + seen
                                       + " messages");
                    rc = 3;
                    break;
                }
                for (ConsumerRecord<byte[], byte[]> r :
                     consumer.poll(Duration.ofMillis(200))) {
                    if (max > 0 && seen >= max)
                        break;
                    line(out, r);
                    seen++;
                }
                System.out.print(out);
                out.setLength(0);
            }
        }
        System.out.flush();
        System.exit(rc);
    }

    private static boolean reachedEnd(KafkaConsumer<byte[], byte[]> consumer,
                                      Map<TopicPartition, Long> end) {
        for (Map.Entry<TopicPartition, Long> e : end.entrySet())
            if (consumer.position(e.getKey()) < e.getValue())
                return false;
        return true;
    }

    private static void line(StringBuilder out, ConsumerRecord<byte[], byte[]> r) {
        Base64.Encoder b64 = Base64.getEncoder();
        out.append("{\"partition\":").append(r.partition());
        out.append(",\"offset\":").append(r.offset());
        out.append(",\"timestamp\":").append(r.timestamp());
        out.append(",\"key\":");
        if (r.key() == null)
            out.append("null");
        else
            out.append('"').append(b64.encodeToString(r.key())).append('"');
        out.append(",\"value\":");
        if (r.value() == null)
            out.append("null");
        else
            out.append('"').append(b64.encodeToString(r.value())).append('"');
        out.append(",\"headers\":[");
        boolean first = true;
        for (Header h : r.headers()) {
            if (!first)
                out.append(',');
            first = false;
            out.append('[');
            jsonString(out, h.key());
            out.append(',');
            if (h.value() == null)
                out.append("null");
            else
                out.append('"').append(b64.encodeToString(h.value())).append('"');
            out.append(']');
        }
        out.append("]}\n");
    }

    private static void jsonString(StringBuilder out, String s) {
        out.append('"');
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c == '"' || c == '\\')
                out.append('\\').append(c);
            else if (c < 0x20)
                out.append(String.format("\\u%04x", (int) c));
            else
                out.append(c);
        }
        out.append('"');
    }
}
